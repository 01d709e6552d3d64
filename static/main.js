// The explorer page: reads the models from the page's data- attributes. A new sample's first map
// comes from one raw slice; the compact slices that hover needs follow and are kept, so moving the
// pointer then colours maps with no round-trip. A sample change aborts that sample's requests and
// clears every map until the new sample's own arrive. Hover previews a query; a click locks it.

import { fillHeadPicker, headFor, headQuery, rememberLayers } from "./heads.js";
import { clearCanvas, drawOutline, formatValue, layerLabels, paintCanvas, paintColorbar, placeMarker, readoutTexts } from "./draw.js";
import { clickedCell, compactSlice, markerGrid, pixelAt, pixelsPerCell } from "./geometry.js";
import { colormapApi, compactValues, modelApi, sampleKey } from "./network.js";
import { panelElement, pinColour, pinMarker } from "./pins.js";
import { averageRow, CONTRAST_FORMULAS, contrast, maskOutline, scaleContrast, scaleSlice, topCells, topMassMask } from "./reading.js";
import { checkColormap, classFromText, classLabel, clampInt, MAX_PINS, readState, SEED_LIMIT, stateQuery, truncationIn } from "./state.js";
import { buildGallery } from "./gallery.js";
import { buildAttentionAdds } from "./adds.js";

const IDS = [
  "seed", "prev-seed", "next-seed", "random-seed", "layer", "head", "colormap", "opacity", "follow", "sample", "overlay",
  "heatmap", "image-stack", "map-stack", "image-marker", "map-marker", "status", "layer-list", "map-caption",
  "readout-pixel", "readout-cell", "readout-mapping", "readout-gamma", "readout-stats", "link-png", "link-json",
  "link-npy", "class-group", "class", "class-names", "truncation", "truncation-value", "notice", "notice-text",
  "notice-close", "loading", "scale", "mass", "contrast", "contrast-formula", "colorbar", "colorbar-low",
  "colorbar-high", "colorbar-label", "colorbar-pointer", "readout-under", "top-cells", "overlay-outline",
  "map-outline", "pin", "clear-pins", "compare-layers", "panels", "pin-markers", "copy-link", "save-format",
  "save-width", "save-figure", "gallery", "gallery-grid", "gallery-prev", "gallery-next", "gallery-page",
  "adds", "adds-layers", "adds-status",
];
const TOP_K = 5;

// Every element the page uses, by id, found once inside the explorer's root.
function findElements(root) {
  const ui = Object.fromEntries(IDS.map((id) => [id, root.querySelector(`#${id}`)]));
  ui.directions = [...root.querySelectorAll('input[name="direction"]')];
  return ui;
}

function maxOf(values) {
  let peak = 0;
  for (const v of values) if (v > peak) peak = v;
  return peak;
}

export async function start(root) {
  const models = JSON.parse(root.dataset.models);
  const model = models.find((m) => m.name === root.dataset.defaultModel) ?? models[0];
  const imageSize = model.image_size;
  const layersByName = new Map(model.layers.map((layer) => [layer.name, layer]));
  rememberLayers(model.layers);
  const ui = findElements(root);
  const api = modelApi(model.name);
  const colormaps = colormapApi();
  const first = readState(location.search, model);
  const state = first.state;
  const notices = [...first.notices];
  const averages = new WeakMap(); // compact → its average row
  let preview = null; // the hovered pixel, shown but not locked
  let dragging = null; // the pointer id scrubbing the query
  let paintToken = 0;
  let panelToken = 0;
  let painted = null; // what the main map shows: { slice, scaled, view }
  let imageReady = false;
  let sampleRequests = new AbortController(); // aborted when the sample changes
  let paintRequest = new AbortController(); // aborted when a newer paint starts

  const view = () => (preview ? { ...state, ...preview } : { ...state });

  function showNotices() {
    ui["notice-text"].textContent = notices.join(" · ");
    ui.notice.hidden = notices.length === 0;
  }

  function averageOf(compact, direction) {
    if (!averages.has(compact)) averages.set(compact, averageRow(compact, direction));
    return averages.get(compact);
  }

  // A slice's raw values, its cell and grid: from the kept compact slices, else one raw slice.
  async function sliceFor(wanted, layer, signal) {
    const compact = api.compactReady(wanted, layer.name, wanted.direction);
    if (compact) {
      const { side, cell } = compactSlice(compact, layer, wanted.direction, wanted.x, wanted.y, imageSize);
      return { values: compactValues(compact, cell.index), side, cell, compact: true };
    }
    const { values, side } = await api.slice(wanted, layer.name, wanted.direction, wanted.x, wanted.y, signal);
    return { values, side, cell: clickedCell(layer, wanted.direction, wanted.x, wanted.y, imageSize), compact: false };
  }

  // The slice of a view on its scale or contrast (these need the compact slices: a shared maximum, ā).
  async function render(wanted, signal) {
    const layer = layersByName.get(wanted.layer);
    let compact = api.compactReady(wanted, layer.name, wanted.direction);
    if (!compact && (wanted.scale === "absolute" || wanted.contrast !== "none")) {
      compact = await api.compact(wanted, layer.name, wanted.direction, sampleRequests.signal);
    }
    const slice = await sliceFor(wanted, layer, signal);
    let scaled;
    if (wanted.contrast !== "none") {
      const average = averageOf(compact, wanted.direction);
      const base = wanted.direction === "row" ? average : average[slice.cell.index];
      scaled = scaleContrast(contrast(slice.values, base, wanted.contrast), wanted.contrast);
    } else {
      const sharedMax = compact ? maxOf(compact.scales) : undefined;
      scaled = scaleSlice(slice.values, wanted.scale, { keyCount: layer.key_grid ** 2, sharedMax });
    }
    return { layer, slice, scaled };
  }

  function stamp(canvas, wanted, extra = {}) {
    Object.assign(canvas.dataset, {
      seed: wanted.seed, cls: wanted.cls ?? "", truncation: wanted.truncation ?? "", layer: wanted.layer,
      head: headFor(wanted.layer, wanted.head), x: wanted.x,
      y: wanted.y, direction: wanted.direction, colormap: wanted.colormap, scale: wanted.scale,
      contrast: wanted.contrast, ...extra,
    });
  }

  function showReadout(layer, slice, scaled, wanted) {
    const stats = {
      peak: maxOf(slice.values), total: slice.values.reduce((a, b) => a + b, 0), approximate: Boolean(slice.compact),
    };
    const texts = readoutTexts(wanted, layer, slice.cell, stats, imageSize);
    for (const key of ["pixel", "cell", "mapping", "gamma", "stats"]) ui[`readout-${key}`].textContent = texts[key];
    const mode = preview ? "Preview (click to lock): " : "";
    ui["map-caption"].textContent = mode + texts.caption;
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
      const onScale = cell.value === value ? "" : ` (${scaled.label}: ${formatValue(cell.value)})`;
      item.textContent = `${formatValue(value)}${onScale} · cell row ${cell.row}, col ${cell.col} · x ${x0}–${x1 - 1}, y ${y0}–${y1 - 1}`;
      item.dataset.index = cell.index;
      item.dataset.value = value;
      return item;
    }));
    const where = { layer: layer.name, x: wanted.x, y: wanted.y, direction: wanted.direction };
    ui["link-png"].href = api.url(wanted, "/heatmap.png", {
      ...where, colormap: wanted.colormap, overlay: true, opacity: wanted.opacity, size: Math.max(512, imageSize), marker: true,
    });
    ui["link-json"].href = api.url(wanted, "/attention", where);
    ui["link-npy"].href = api.url(wanted, "/attention.npy", { layer: layer.name });
  }

  function drawMass(slice, wanted) {
    for (const canvas of [ui["map-outline"], ui["overlay-outline"]]) {
      const mask = wanted.mass > 0 ? topMassMask(slice.values, wanted.mass) : null;
      if (mask) drawOutline(canvas, maskOutline(mask, slice.side), slice.side, "#ffffff");
      else clearCanvas(canvas);
      stamp(canvas, wanted, { mass: wanted.mass, cells: mask ? mask.reduce((a, b) => a + b, 0) : 0 });
    }
  }

  function finishLoading() {
    if (imageReady && painted && sampleKey(painted.view) === sampleKey(state)) {
      delete root.dataset.loading;
      ui.loading.hidden = true;
    }
  }

  async function paint() {
    const token = ++paintToken;
    const wanted = view();
    paintRequest.abort();
    paintRequest = new AbortController();
    const signal = AbortSignal.any([sampleRequests.signal, paintRequest.signal]);
    try {
      const [{ layer, slice, scaled }, lut] = await Promise.all([render(wanted, signal), colormaps.lut(wanted.colormap)]);
      if (token !== paintToken || sampleKey(wanted) !== sampleKey(state)) return;
      paintCanvas(ui.heatmap, scaled.display, slice.side, lut);
      paintCanvas(ui.overlay, scaled.display, slice.side, lut);
      paintColorbar(ui.colorbar, lut);
      ui.overlay.style.opacity = String(wanted.opacity);
      placeMarker(ui["image-marker"], slice.cell);
      placeMarker(ui["map-marker"], slice.cell);
      drawMass(slice, wanted);
      showReadout(layer, slice, scaled, wanted);
      const extra = { index: slice.cell.index, source: slice.compact ? "compact" : "slice", preview: String(Boolean(preview)), painted: String(token) };
      stamp(ui.heatmap, wanted, extra);
      stamp(ui.overlay, wanted, extra);
      painted = { slice, scaled, view: wanted };
      ui.status.textContent = "";
      finishLoading();
      if (!slice.compact) {
        api.compact(wanted, layer.name, wanted.direction, sampleRequests.signal).catch((error) => {
          if (error.name !== "AbortError") ui.status.textContent = `Could not load the hover data: ${error.message}`;
        });
      }
    } catch (error) {
      if (error.name === "AbortError") return;
      if (token === paintToken) ui.status.textContent = `Could not load the map: ${error.message}`;
    }
  }

  // The small multiples: each pin's map on the locked layer, and every layer's map of the locked query.
  async function paintPanels() {
    const token = ++panelToken;
    const panels = state.pins.map((pin, i) => ({
      ...pin, layer: state.layer, colour: pinColour(i), kind: "pin", label: `pin ${i + 1}: (${pin.x}, ${pin.y}) · ${state.layer}`,
    }));
    if (state.layers === "all") {
      for (const layer of model.layers) {
        panels.push({ x: state.x, y: state.y, layer: layer.name, colour: "#9aa4b2", kind: "layer", label: `${layer.name}: (${state.x}, ${state.y})` });
      }
    }
    const built = panels.map((panel, i) => ({
      panel,
      ...panelElement(panel, panel.kind === "pin" ? () => setState({ pins: state.pins.filter((_, j) => j !== i) }) : null),
    }));
    ui.panels.replaceChildren(...built.map((item) => item.figure));
    ui.panels.hidden = built.length === 0;
    ui["pin-markers"].replaceChildren(...state.pins.map((pin, i) => pinMarker(pin, pinColour(i), imageSize)));
    const wantedBase = { ...state };
    try {
      const lut = await colormaps.lut(state.colormap);
      await Promise.all(built.map(async ({ panel, canvas }) => {
        const wanted = { ...wantedBase, x: panel.x, y: panel.y, layer: panel.layer };
        const { slice, scaled } = await render(wanted, sampleRequests.signal);
        if (token !== panelToken || sampleKey(wanted) !== sampleKey(state)) return;
        paintCanvas(canvas, scaled.display, slice.side, lut);
        stamp(canvas, wanted, { kind: panel.kind, painted: "true" });
      }));
    } catch (error) {
      if (error.name !== "AbortError" && token === panelToken) ui.status.textContent = `Could not load a pinned map: ${error.message}`;
    }
  }

  function showSample() {
    ui.seed.value = String(state.seed);
    if (model.classes) {
      ui.class.value = classLabel(state.cls, model.classes);
      ui.truncation.value = String(state.truncation);
      ui["truncation-value"].textContent = state.truncation.toFixed(2);
    }
    root.dataset.loading = "true";
    ui.loading.hidden = false;
    ui.loading.textContent = `Loading seed ${state.seed}…`;
    imageReady = false;
    painted = null;
    for (const canvas of [ui.heatmap, ui.overlay, ui["map-outline"], ui["overlay-outline"]]) {
      clearCanvas(canvas);
      canvas.dataset.seed = "";
    }
    ui["image-marker"].hidden = true;
    ui["map-marker"].hidden = true;
    ui.sample.dataset.seed = "";
    ui.sample.dataset.wanted = String(state.seed);
    ui.sample.src = api.sampleUrl(state);
  }

  function controlsFromState() {
    ui.layer.value = state.layer;
    fillHeadPicker(ui.head, state.layer, state.head);
    ui.opacity.value = String(state.opacity);
    ui.follow.checked = state.hover === "preview";
    ui.scale.value = state.scale;
    ui.mass.value = String(state.mass);
    ui.contrast.value = state.contrast;
    ui["compare-layers"].checked = state.layers === "all";
    ui["contrast-formula"].textContent = CONTRAST_FORMULAS[state.contrast] ?? "";
    ui.scale.disabled = state.contrast !== "none";
    ui.directions.find((radio) => radio.value === state.direction).checked = true;
    if ([...ui.colormap.options].some((option) => option.value === state.colormap)) ui.colormap.value = state.colormap;
    ui.pin.disabled = state.pins.length >= MAX_PINS;
  }

  // Sample changes push a history entry, so Back returns to the previous sample.
  function setState(changes) {
    const before = sampleKey(state);
    Object.assign(state, changes);
    const sampleChanged = sampleKey(state) !== before;
    if (sampleChanged) history.pushState(null, "", stateQuery(state));
    else history.replaceState(null, "", stateQuery(state));
    controlsFromState();
    if (sampleChanged) {
      sampleRequests.abort();
      sampleRequests = new AbortController();
      preview = null;
      showSample();
    }
    paint();
    paintPanels();
    adds.refresh();
  }

  function fromHistory() {
    const before = sampleKey(state);
    Object.assign(state, readState(location.search, model).state);
    controlsFromState();
    if (sampleKey(state) !== before) {
      sampleRequests.abort();
      sampleRequests = new AbortController();
      showSample();
    }
    paint();
    paintPanels();
    adds.refresh();
  }

  function buildLayerControls() {
    for (const layer of model.layers) {
      const labels = layerLabels(layer, imageSize);
      ui.layer.append(new Option(labels.option, layer.name));
      const item = document.createElement("li");
      item.textContent = labels.item;
      item.dataset.layer = layer.name;
      ui["layer-list"].append(item);
    }
  }

  function buildSamplingControls() {
    if (!model.classes) return;
    ui["class-group"].hidden = false;
    ui["class-names"].append(...model.classes.map((_, i) => new Option(classLabel(i, model.classes))));
    const range = model.truncation;
    ui.truncation.min = String(Math.max(range.low + 0.01, 0.01));
    ui.truncation.max = String(range.high);
    ui.class.addEventListener("change", () => {
      const index = classFromText(ui.class.value, model.classes);
      if (index === null) {
        ui.status.textContent = `"${ui.class.value}" names no single class; pick one from the list or give its index`;
        ui.class.value = classLabel(state.cls, model.classes);
        return;
      }
      setState({ cls: index });
    });
    ui.truncation.addEventListener("input", () => {
      ui["truncation-value"].textContent = Number.parseFloat(ui.truncation.value).toFixed(2);
    });
    ui.truncation.addEventListener("change", () => {
      setState({ truncation: truncationIn(ui.truncation.value, range, state.truncation) });
    });
  }

  function pinQuery() {
    if (state.pins.length >= MAX_PINS || state.pins.some((pin) => pin.x === state.x && pin.y === state.y)) return;
    setState({ pins: [...state.pins, { x: state.x, y: state.y }] });
  }

  // Arrows move the locked query while the image has focus (Shift: one cell); P pins it.
  function keyOnImage(event) {
    if (event.key === "p" || event.key === "P") {
      event.preventDefault();
      pinQuery();
      return;
    }
    const step = event.shiftKey ? pixelsPerCell(imageSize, markerGrid(layersByName.get(state.layer), state.direction)) : 1;
    const moves = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] };
    const move = moves[event.key];
    if (!move) return;
    event.preventDefault();
    preview = null;
    setState({
      x: Math.min(imageSize - 1, Math.max(0, state.x + move[0])),
      y: Math.min(imageSize - 1, Math.max(0, state.y + move[1])),
    });
  }

  // The value of the shown map under the pointer, on the colour bar too.
  function showValueAt(event, stack) {
    if (!painted) return;
    const { slice, scaled } = painted;
    const box = stack.getBoundingClientRect();
    const col = Math.min(slice.side - 1, Math.max(0, Math.floor(((event.clientX - box.left) / box.width) * slice.side)));
    const row = Math.min(slice.side - 1, Math.max(0, Math.floor(((event.clientY - box.top) / box.height) * slice.side)));
    const index = row * slice.side + col;
    const value = slice.values[index];
    const onScale = scaled.quantity[index] === value ? "" : ` (${scaled.label}: ${formatValue(scaled.quantity[index])})`;
    ui["readout-under"].textContent = `cell row ${row}, col ${col}: ${formatValue(value)}${onScale}`;
    ui["readout-under"].dataset.index = index;
    ui["readout-under"].dataset.value = slice.values[index];
    ui["colorbar-pointer"].hidden = false;
    ui["colorbar-pointer"].style.left = `${scaled.display[index] * 100}%`;
  }

  function bindPointer() {
    const stack = ui["image-stack"];
    const pixelOf = (event) => pixelAt(event.clientX, event.clientY, stack.getBoundingClientRect(), imageSize);
    stack.addEventListener("pointerdown", (event) => {
      if (event.button !== 0) return;
      dragging = event.pointerId;
      stack.setPointerCapture(event.pointerId);
      preview = null;
      setState(pixelOf(event));
    });
    const stop = (event) => { if (dragging === event.pointerId) dragging = null; };
    stack.addEventListener("pointerup", stop);
    stack.addEventListener("pointercancel", stop);
    stack.addEventListener("pointermove", (event) => {
      const { x, y } = pixelOf(event);
      if (dragging === event.pointerId) {
        if (x !== state.x || y !== state.y) setState({ x, y });
        return;
      }
      if (event.pointerType === "touch") return;
      if (state.hover !== "preview") {
        showValueAt(event, stack);
        return;
      }
      if (!preview || preview.x !== x || preview.y !== y) {
        preview = { x, y };
        paint();
      }
    });
    stack.addEventListener("pointerleave", () => {
      if (!preview || dragging !== null) return;
      preview = null;
      paint();
    });
    ui["map-stack"].addEventListener("pointermove", (event) => showValueAt(event, ui["map-stack"]));
    ui["map-stack"].addEventListener("pointerleave", () => { ui["colorbar-pointer"].hidden = true; });
  }

  async function saveFigure() {
    const format = ui["save-format"].value;
    const width = clampInt(ui["save-width"].value, 200, 4096, 1200);
    ui["save-width"].value = String(width);
    const params = {
      layer: state.layer, ...headQuery(state.layer, state.head), direction: state.direction, scale: state.scale,
      colormap: state.colormap, contrast: state.contrast,
      pins: state.pins.length ? state.pins.map((pin) => `${pin.x},${pin.y}`).join(";") : `${state.x},${state.y}`,
    };
    if (state.mass > 0) params.mass = state.mass;
    if (format === "png") Object.assign(params, { width, height: Math.round(width / 2) });
    const url = api.figureUrl(state, format, params);
    ui["save-figure"].dataset.href = url;
    const response = await fetch(url);
    if (!response.ok) {
      ui["save-figure"].dataset.result = response.status === 404 ? "missing" : "failed";
      ui.status.textContent = response.status === 404 ? "This server has no figure export." : `Could not make the figure: ${response.status}`;
      return;
    }
    const link = document.createElement("a");
    link.href = URL.createObjectURL(await response.blob());
    link.download = `${model.name}-seed${state.seed}-${state.layer}.${format}`;
    link.click();
    URL.revokeObjectURL(link.href);
    ui["save-figure"].dataset.result = "saved";
  }

  async function copyLink() {
    try {
      await navigator.clipboard.writeText(location.href);
      ui.status.textContent = "Link copied.";
    } catch {
      ui.status.textContent = `Copy this link: ${location.href}`;
    }
  }

  function bindControls() {
    ui.seed.addEventListener("change", () => setState({ seed: clampInt(ui.seed.value, 0, SEED_LIMIT - 1, state.seed) }));
    ui["prev-seed"].addEventListener("click", () => setState({ seed: (state.seed + SEED_LIMIT - 1) % SEED_LIMIT }));
    ui["next-seed"].addEventListener("click", () => setState({ seed: (state.seed + 1) % SEED_LIMIT }));
    ui["random-seed"].addEventListener("click", () => setState({ seed: Math.floor(Math.random() * SEED_LIMIT) }));
    ui.layer.addEventListener("change", () => setState({ layer: ui.layer.value, head: headFor(ui.layer.value, state.head) }));
    ui.head.addEventListener("change", () => setState({ head: ui.head.value }));
    ui.colormap.addEventListener("change", () => setState({ colormap: ui.colormap.value }));
    ui.opacity.addEventListener("input", () => setState({ opacity: Number.parseFloat(ui.opacity.value) }));
    ui.follow.addEventListener("change", () => setState({ hover: ui.follow.checked ? "preview" : "off" }));
    ui.scale.addEventListener("change", () => setState({ scale: ui.scale.value }));
    ui.mass.addEventListener("change", () => setState({ mass: clampInt(ui.mass.value, 0, 100, 0) }));
    ui.contrast.addEventListener("change", () => setState({ contrast: ui.contrast.value }));
    ui["compare-layers"].addEventListener("change", () => setState({ layers: ui["compare-layers"].checked ? "all" : "one" }));
    ui.pin.addEventListener("click", pinQuery);
    ui["clear-pins"].addEventListener("click", () => setState({ pins: [] }));
    ui["save-figure"].addEventListener("click", () => saveFigure().catch((error) => { ui.status.textContent = `Could not make the figure: ${error.message}`; }));
    ui["copy-link"].addEventListener("click", copyLink);
    ui["notice-close"].addEventListener("click", () => { notices.length = 0; showNotices(); });
    for (const radio of ui.directions) radio.addEventListener("change", () => setState({ direction: radio.value }));
    ui["image-stack"].addEventListener("keydown", keyOnImage);
    ui.sample.addEventListener("load", () => {
      if (ui.sample.dataset.wanted !== String(state.seed)) return;
      ui.sample.dataset.seed = ui.sample.dataset.wanted;
      imageReady = true;
      finishLoading();
    });
    bindPointer();
    addEventListener("popstate", fromHistory);
  }

  ui.sample.width = imageSize;
  ui.sample.height = imageSize;
  buildLayerControls();
  buildSamplingControls();
  bindControls();
  buildGallery(ui, api, state, (seed) => {
    setState({ seed });
    ui["image-stack"].scrollIntoView({ block: "start" });  // the opened sample, not the gallery, in view
    ui["image-stack"].focus({ preventScroll: true });
  });
  const adds = buildAttentionAdds(ui, api, colormaps, model, () => state);
  showSample();
  try {
    const names = await colormaps.names();
    const note = checkColormap(state, names);
    if (note) notices.push(note);
    for (const name of names) ui.colormap.append(new Option(name, name));
  } catch (error) {
    ui.status.textContent = `Could not load the colormaps: ${error.message}`;
  }
  showNotices();
  controlsFromState();
  history.replaceState(null, "", stateQuery(state));
  await Promise.all([paint(), paintPanels()]);
}
