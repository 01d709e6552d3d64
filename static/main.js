// The explorer page: reads the models from the page's data- attributes. Hover previews a query from
// the kept 8-bit hover data with no round-trip; a click, an arrow key or a link locks it, and a locked
// view shows only exact float32 values (maps.js). A sample change aborts that sample's requests and
// clears every map and readout until the new sample's own arrive.

import { fillHeadPicker, headFor, headQuery, rememberLayers } from "./heads.js";
import { clearCanvas, drawOutline, layerLabels, paintCanvas, paintColorbar, placeMarker } from "./draw.js";
import { markerGrid, pixelAt, pixelsPerCell } from "./geometry.js";
import { mapSource } from "./maps.js";
import { colormapApi, modelApi, sampleKey } from "./network.js";
import { panelElement, pinColour, pinMarker } from "./pins.js";
import { clearReadout, showReadout, showValueAt } from "./readout.js";
import { CONTRAST_FORMULAS, maskOutline, topMassMask } from "./reading.js";
import {
  checkColormap, classIn, classLabel, integerIn, MAX_PINS, readState, ruled, SEED_LIMIT, stateQuery, truncationFloor,
  truncationIn,
} from "./state.js";
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
  "adds", "adds-layers", "adds-status", "readout", "overlay-mode",
];

// Every element the page uses, by id, found once inside the explorer's root.
function findElements(root) {
  const ui = Object.fromEntries(IDS.map((id) => [id, root.querySelector(`#${id}`)]));
  ui.directions = [...root.querySelectorAll('input[name="direction"]')];
  return ui;
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
  const maps = mapSource(api, layersByName, imageSize);
  const first = readState(location.search, model);
  const state = first.state;
  const notices = [...first.notices];
  let preview = null; // the hovered pixel, shown but not locked
  let dragging = null; // the pointer id scrubbing the query
  let paintToken = 0;
  let panelToken = 0;
  let painted = null; // what the main map shows: { slice, scaled, view }
  let imageReady = false;
  let sampleRequests = new AbortController(); // aborted when the sample changes

  const view = () => (preview ? { ...state, ...preview } : { ...state });

  function showNotices() {
    ui["notice-text"].textContent = notices.join(" · ");
    ui.notice.hidden = notices.length === 0;
  }

  // A typed value through the same rule as its URL parameter, with the same notice.
  function typed(name, input, rule) {
    const { value, note } = ruled(name, input.value, rule);
    const others = notices.filter((shown) => !shown.startsWith(`${name}=`));  // a newer value replaces its notice
    notices.splice(0, notices.length, ...others, ...(note ? [note] : []));
    showNotices();
    input.value = String(value);
    return value;
  }

  function stamp(canvas, wanted, extra = {}) {
    Object.assign(canvas.dataset, {
      seed: wanted.seed, cls: wanted.cls ?? "", truncation: wanted.truncation ?? "", layer: wanted.layer,
      head: headFor(wanted.layer, wanted.head), x: wanted.x,
      y: wanted.y, direction: wanted.direction, colormap: wanted.colormap, scale: wanted.scale,
      contrast: wanted.contrast, ...extra,
    });
  }

  function showLinks(layer, wanted) {
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
    const exact = !preview;
    try {
      const [{ layer, slice, scaled }, lut] = await Promise.all([
        maps.render(wanted, exact, sampleRequests.signal), colormaps.lut(wanted.colormap),
      ]);
      if (token !== paintToken || sampleKey(wanted) !== sampleKey(state)) return;
      paintCanvas(ui.heatmap, scaled.display, slice.side, lut);
      paintCanvas(ui.overlay, scaled.display, slice.side, lut, { alphaFollows: wanted.overlay === "value" });
      paintColorbar(ui.colorbar, lut);
      ui.overlay.style.opacity = String(wanted.opacity);
      placeMarker(ui["image-marker"], slice.cell);
      placeMarker(ui["map-marker"], slice.cell);
      drawMass(slice, wanted);
      showReadout(ui, { layer, slice, scaled, wanted, imageSize, preview: !exact });
      showLinks(layer, wanted);
      const extra = { overlay: wanted.overlay, index: slice.cell.index, source: slice.compact ? "compact" : "slice", preview: String(Boolean(preview)), painted: String(token) };
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
        const { slice, scaled } = await maps.render(wanted, true, sampleRequests.signal);
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
    }
    if (model.truncation) {
      ui.truncation.value = String(state.truncation);
      ui["truncation-value"].textContent = state.truncation.toFixed(2);
    }
    root.dataset.loading = "true";
    ui.loading.hidden = false;
    ui.loading.textContent = `Loading seed ${state.seed}…`;
    clearReadout(ui, ui.loading.textContent);
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
    ui["overlay-mode"].value = state.overlay;
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
      gallery.refill();
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
      gallery.refill();
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
    ui.class.addEventListener("change", () => {
      const cls = typed("class", ui.class, classIn(model.classes, state.cls));
      ui.class.value = classLabel(cls, model.classes);
      setState({ cls });
    });
    const range = model.truncation;
    if (!range) {
      // A conditional model without truncation (a StudioGAN run): the class alone names a sample.
      for (const element of [ui.truncation, ui["truncation-value"], root.querySelector('label[for="truncation"]')]) {
        element.hidden = true;
      }
      return;
    }
    ui.truncation.min = String(truncationFloor(range));
    ui.truncation.max = String(range.high);
    ui.truncation.addEventListener("input", () => {
      ui["truncation-value"].textContent = Number.parseFloat(ui.truncation.value).toFixed(2);
    });
    ui.truncation.addEventListener("change", () => {
      setState({ truncation: typed("truncation", ui.truncation, truncationIn(range, state.truncation)) });
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
        if (painted) showValueAt(ui, painted, event, stack);
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
    ui["map-stack"].addEventListener("pointermove", (event) => {
      if (painted) showValueAt(ui, painted, event, ui["map-stack"]);
    });
    ui["map-stack"].addEventListener("pointerleave", () => { ui["colorbar-pointer"].hidden = true; });
  }

  async function saveFigure() {
    const format = ui["save-format"].value;
    const params = {
      layer: state.layer, ...headQuery(state.layer, state.head), direction: state.direction, scale: state.scale,
      colormap: state.colormap, contrast: state.contrast,
      pins: state.pins.length ? state.pins.map((pin) => `${pin.x},${pin.y}`).join(";") : `${state.x},${state.y}`,
    };
    if (state.mass > 0) params.mass = state.mass;
    if (format === "png") {
      const width = typed("width", ui["save-width"], integerIn(400, 4096, 1200));  // height = width / 2 ≥ 200
      Object.assign(params, { width, height: Math.round(width / 2) });
    }
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
    const offered = /filename="([^"]+)"/.exec(response.headers.get("Content-Disposition") ?? "");
    link.download = offered ? offered[1] : `${model.name}.${format}`;  // the server names the sample, layer and head
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
    ui.seed.addEventListener("change", () => setState({ seed: typed("seed", ui.seed, integerIn(0, SEED_LIMIT - 1, state.seed)) }));
    ui["prev-seed"].addEventListener("click", () => setState({ seed: (state.seed + SEED_LIMIT - 1) % SEED_LIMIT }));
    ui["next-seed"].addEventListener("click", () => setState({ seed: (state.seed + 1) % SEED_LIMIT }));
    ui["random-seed"].addEventListener("click", () => setState({ seed: Math.floor(Math.random() * SEED_LIMIT) }));
    ui.layer.addEventListener("change", () => setState({ layer: ui.layer.value, head: headFor(ui.layer.value, state.head) }));
    ui.head.addEventListener("change", () => setState({ head: ui.head.value }));
    ui.colormap.addEventListener("change", () => setState({ colormap: ui.colormap.value }));
    ui.opacity.addEventListener("input", () => setState({ opacity: Number.parseFloat(ui.opacity.value) }));
    ui["overlay-mode"].addEventListener("change", () => setState({ overlay: ui["overlay-mode"].value }));
    ui.follow.addEventListener("change", () => setState({ hover: ui.follow.checked ? "preview" : "off" }));
    ui.scale.addEventListener("change", () => setState({ scale: ui.scale.value }));
    ui.mass.addEventListener("change", () => setState({ mass: typed("mass", ui.mass, integerIn(0, 100, 0)) }));
    const widthForFormat = () => { ui["save-width"].disabled = ui["save-format"].value === "svg"; };  // SVG has no pixel width
    ui["save-format"].addEventListener("change", widthForFormat);
    widthForFormat();
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
  const gallery = buildGallery(ui, api, state, (seed) => {
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
