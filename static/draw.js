// Drawing: a map on a canvas through a colormap LUT (display values in [0, 1]; the relative scale
// is exactly what the PNG endpoint draws), outlines, the colour bar, cell markers, and the readout text.

import { pixelsPerCell } from "./geometry.js";

// display: values in [0, 1] (see reading.js), one per cell of a side × side grid. alphaFollows: each
// cell's alpha is its LUT index (0 transparent, 255 opaque), so low values leave what lies below visible.
export function paintCanvas(canvas, display, side, lut, { alphaFollows = false } = {}) {
  if (canvas.width !== side || canvas.height !== side) {
    canvas.width = side; // resizing reallocates and clears the canvas, so only when the grid changes
    canvas.height = side;
  }
  const context = canvas.getContext("2d");
  const image = context.createImageData(side, side);
  for (let i = 0; i < display.length; i++) {
    const index = Math.floor(display[i] * 255 + 0.5);
    image.data[i * 4] = lut[index * 3];
    image.data[i * 4 + 1] = lut[index * 3 + 1];
    image.data[i * 4 + 2] = lut[index * 3 + 2];
    image.data[i * 4 + 3] = alphaFollows ? index : 255;
  }
  context.putImageData(image, 0, 0);
}

export function clearCanvas(canvas) {
  canvas.getContext("2d").clearRect(0, 0, canvas.width, canvas.height);
}

// Segments [x0, y0, x1, y1] in cell units of a side × side grid, drawn on a canvas of any size.
export function drawOutline(canvas, segments, side, colour) {
  const context = canvas.getContext("2d");
  context.clearRect(0, 0, canvas.width, canvas.height);
  const unit = canvas.width / side;
  context.strokeStyle = colour;
  context.lineWidth = Math.max(2, canvas.width / 256);
  context.beginPath();
  for (const [x0, y0, x1, y1] of segments) {
    context.moveTo(x0 * unit, y0 * unit);
    context.lineTo(x1 * unit, y1 * unit);
  }
  context.stroke();
}

export function paintColorbar(canvas, lut) {
  canvas.width = 256;
  canvas.height = 1;
  const context = canvas.getContext("2d");
  const image = context.createImageData(256, 1);
  for (let k = 0; k < 256; k++) {
    image.data.set([lut[k * 3], lut[k * 3 + 1], lut[k * 3 + 2], 255], k * 4);
  }
  context.putImageData(image, 0, 0);
}

// A value for people: 3 significant digits, exponent form when small.
export function formatValue(value) {
  if (!Number.isFinite(value)) return value > 0 ? "∞" : "−∞";
  if (value !== 0 && Math.abs(value) < 0.01) return value.toExponential(2);
  return value.toPrecision(3);
}

export function placeMarker(marker, cell) {
  const size = 100 / cell.grid;
  marker.style.left = `${cell.col * size}%`;
  marker.style.top = `${cell.row * size}%`;
  marker.style.width = `${size}%`;
  marker.style.height = `${size}%`;
  marker.hidden = false;
}

// The readout's texts for one painted map. `stats.approximate`: the values come from the 8-bit hover data
// (each within its slice's maximum / 510), so they are marked ≈.
export function readoutTexts(state, layer, cell, stats, imageSize) {
  const perCell = pixelsPerCell(imageSize, cell.grid);
  const [gridName, otherName, otherGrid] = state.direction === "row"
    ? ["query", "key", layer.key_grid] : ["key", "query", layer.query_grid];
  const x0 = cell.col * perCell;
  const y0 = cell.row * perCell;
  const otherPerCell = pixelsPerCell(imageSize, otherGrid);
  const otherCells = otherGrid === cell.grid ? "" : `; ${otherPerCell}×${otherPerCell} per ${otherName} cell`;
  const about = stats.approximate ? "≈" : "";
  const source = stats.approximate ? " (8-bit hover data)" : "";
  const numbers = `sum ${about}${stats.total.toFixed(3)}, max ${about}${stats.peak.toExponential(3)}`;
  return {
    pixel: `(x ${state.x}, y ${state.y}) of ${imageSize}×${imageSize}`,
    cell: `row ${cell.row}, col ${cell.col}, index ${cell.index} on the ${cell.grid}×${cell.grid} ${gridName} grid`,
    mapping: `${perCell}×${perCell} pixels per ${gridName} cell: x ${x0}–${x0 + perCell - 1}, y ${y0}–${y0 + perCell - 1}${otherCells}`,
    gamma: layer.gamma === null
      ? "— (no γ found on this module)"
      : `${layer.gamma.toFixed(4)}${Math.abs(layer.gamma) < 0.01 ? " (near 0: this layer barely uses attention)" : ""}`,
    stats: state.direction === "row"
      ? `row over ${layer.key_grid}×${layer.key_grid} keys, ${numbers}${source}`
      : `column over ${layer.query_grid}×${layer.query_grid} queries, ${numbers} (columns need not sum to 1)${source}`,
    caption: state.direction === "row"
      ? `Where pixel (${state.x}, ${state.y}) looks · ${layer.name}, key grid ${layer.key_grid}×${layer.key_grid}`
      : `What looks at pixel (${state.x}, ${state.y}) · ${layer.name}, query grid ${layer.query_grid}×${layer.query_grid}`,
  };
}

export function layerLabels(layer, imageSize) {
  const perCell = pixelsPerCell(imageSize, layer.query_grid);
  const keys = layer.key_grid === layer.query_grid ? "" : `, keys pooled to ${layer.key_grid}×${layer.key_grid}`;
  const gamma = (digits) => (layer.gamma === null ? "—" : layer.gamma.toFixed(digits));
  return {
    option: `${layer.name} · ${layer.query_grid}×${layer.query_grid} · γ ${gamma(3)}`,
    item: `${layer.name}: queries ${layer.query_grid}×${layer.query_grid}${keys}, ${perCell}×${perCell} px per cell, γ = ${gamma(4)}`,
  };
}
