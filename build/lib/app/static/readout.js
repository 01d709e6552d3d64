// The readout beside the map: pixel, cell, mapping, γ, the map's numbers, the top cells, the colour
// bar's range and the value under the pointer. All of it belongs to one sample, so it is blanked the
// moment another sample starts loading and filled only by that sample's own map.

import { formatValue, readoutTexts } from "./draw.js";
import { topCells } from "./reading.js";

const TOP_K = 5;
const FIELDS = ["pixel", "cell", "mapping", "gamma", "stats"];

function maxOf(values) {
  let peak = 0;
  for (const v of values) if (v > peak) peak = v;
  return peak;
}

export function clearReadout(ui, loadingText) {
  for (const key of FIELDS) ui[`readout-${key}`].textContent = "–";
  ui["readout-under"].textContent = "point at the map";
  delete ui["readout-under"].dataset.index;
  delete ui["readout-under"].dataset.value;
  ui["top-cells"].replaceChildren();
  ui["colorbar-low"].textContent = "–";
  ui["colorbar-high"].textContent = "–";
  ui["colorbar-label"].textContent = "";
  ui["colorbar-pointer"].hidden = true;
  ui["map-caption"].textContent = loadingText;
  delete ui.readout.dataset.seed;
}

// One painted map's numbers. preview: the map previews a hovered query (its numbers may be ≈).
export function showReadout(ui, { layer, slice, scaled, wanted, imageSize, preview }) {
  const stats = {
    peak: maxOf(slice.values), total: slice.values.reduce((a, b) => a + b, 0), approximate: Boolean(slice.compact),
  };
  const texts = readoutTexts(wanted, layer, slice.cell, stats, imageSize);
  for (const key of FIELDS) ui[`readout-${key}`].textContent = texts[key];
  ui["map-caption"].textContent = (preview ? "Preview (click to lock): " : "") + texts.caption;
  ui.heatmap.setAttribute("aria-label", `Attention map. ${texts.caption}`);
  ui.overlay.setAttribute("aria-label", `Attention map over the sample. ${texts.caption}`);
  ui["colorbar-low"].textContent = formatValue(scaled.low);
  ui["colorbar-high"].textContent = formatValue(scaled.high);
  ui["colorbar-label"].textContent = scaled.label;
  // Ranked by what the map shows (a contrast when one is on), each with its attention weight.
  ui["top-cells"].replaceChildren(...topCells(scaled.quantity, TOP_K, slice.side, imageSize).map((cell) => {
    const item = document.createElement("li");
    const [x0, y0, x1, y1] = cell.pixels;
    const value = slice.values[cell.index];
    const about = slice.compact ? "≈" : "";
    const onScale = cell.value === value ? "" : ` (${scaled.label}: ${about}${formatValue(cell.value)})`;
    item.textContent = `${about}${formatValue(value)}${onScale} · cell row ${cell.row}, col ${cell.col} · x ${x0}–${x1 - 1}, y ${y0}–${y1 - 1}`;
    item.dataset.index = cell.index;
    item.dataset.value = value;
    return item;
  }));
  ui.readout.dataset.seed = wanted.seed;
}

// The value of the painted map under the pointer, marked on the colour bar too.
export function showValueAt(ui, painted, event, stack) {
  const { slice, scaled } = painted;
  const box = stack.getBoundingClientRect();
  const col = Math.min(slice.side - 1, Math.max(0, Math.floor(((event.clientX - box.left) / box.width) * slice.side)));
  const row = Math.min(slice.side - 1, Math.max(0, Math.floor(((event.clientY - box.top) / box.height) * slice.side)));
  const index = row * slice.side + col;
  const value = slice.values[index];
  const about = slice.compact ? "≈" : "";
  const onScale = scaled.quantity[index] === value ? "" : ` (${scaled.label}: ${about}${formatValue(scaled.quantity[index])})`;
  ui["readout-under"].textContent = `cell row ${row}, col ${col}: ${about}${formatValue(value)}${onScale}`;
  ui["readout-under"].dataset.index = index;
  ui["readout-under"].dataset.value = value;
  ui["colorbar-pointer"].hidden = false;
  ui["colorbar-pointer"].style.left = `${scaled.display[index] * 100}%`;
}
