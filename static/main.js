// The explorer page: reads the models from the page's data- attributes. A new sample's first map
// comes from one raw slice; the compact slices that hover needs follow and are kept, so moving the
// pointer then colours maps with no round-trip. A sample change aborts that sample's requests.

import { layerLabels, paintCanvas, placeMarker, readoutTexts } from "./draw.js";
import { clickedCell, compactSlice, markerGrid, pixelAt, pixelsPerCell } from "./geometry.js";
import { colormapApi, modelApi, sampleKey } from "./network.js";
import { clampInt, classFromText, classLabel, readState, SEED_LIMIT, stateQuery, truncationIn } from "./state.js";

const IDS = [
  "seed", "prev-seed", "next-seed", "random-seed", "layer", "colormap", "opacity", "follow", "sample", "overlay",
  "heatmap", "image-stack", "map-stack", "image-marker", "map-marker", "status", "layer-list", "map-caption",
  "readout-pixel", "readout-cell", "readout-mapping", "readout-gamma", "readout-stats", "link-png", "link-json",
  "link-npy", "class-group", "class", "class-names", "truncation", "truncation-value",
];

// Every element the page uses, by id, found once inside the explorer's root.
function findElements(root) {
  const ui = Object.fromEntries(IDS.map((id) => [id, root.querySelector(`#${id}`)]));
  ui.directions = [...root.querySelectorAll('input[name="direction"]')];
  return ui;
}

// The sum and maximum of a slice, from float32 values or from 8-bit values with their scale.
function sliceStats(values, scale) {
  let peak = 0;
  let total = 0;
  for (const v of values) { if (v > peak) peak = v; total += v; }
  return scale === undefined ? { peak, total } : { peak: scale * (peak / 255), total: (scale * total) / 255 };
}

export async function start(root) {
  const models = JSON.parse(root.dataset.models);
  const model = models.find((m) => m.name === root.dataset.defaultModel) ?? models[0];
  const imageSize = model.image_size;
  const layersByName = new Map(model.layers.map((layer) => [layer.name, layer]));
  const ui = findElements(root);
  const api = modelApi(model.name);
  const colormaps = colormapApi();
  const state = readState(location.search, model);
  let paintToken = 0;
  let sampleRequests = new AbortController(); // aborted when the sample changes
  let paintRequest = new AbortController(); // aborted when a newer paint starts

  const writeState = () => history.replaceState(null, "", stateQuery(state));

  function showReadout(layer, cell, stats, wanted) {
    const texts = readoutTexts(wanted, layer, cell, stats, imageSize);
    for (const key of ["pixel", "cell", "mapping", "gamma", "stats"]) ui[`readout-${key}`].textContent = texts[key];
    ui["map-caption"].textContent = texts.caption;
    const where = { layer: layer.name, x: wanted.x, y: wanted.y, direction: wanted.direction };
    ui["link-png"].href = api.url(wanted, "/heatmap.png", {
      ...where, colormap: wanted.colormap, overlay: true, size: Math.max(512, imageSize), marker: true,
    });
    ui["link-json"].href = api.url(wanted, "/attention", where);
    ui["link-npy"].href = api.url(wanted, "/attention.npy", { layer: layer.name });
  }

  // The slice to show: from the kept compact slices when they are here, else one raw slice.
  async function sliceFor(wanted, layer, signal) {
    const compact = api.compactReady(wanted, layer.name, wanted.direction);
    if (compact) {
      const { values, scale, side, cell } = compactSlice(compact, layer, wanted.direction, wanted.x, wanted.y, imageSize);
      return { values, side, cell, stats: sliceStats(values, scale), compact: true };
    }
    const { values, side } = await api.slice(wanted, layer.name, wanted.direction, wanted.x, wanted.y, signal);
    const cell = clickedCell(layer, wanted.direction, wanted.x, wanted.y, imageSize);
    return { values, side, cell, stats: sliceStats(values), compact: false };
  }

  async function paint() {
    const token = ++paintToken;
    const layer = layersByName.get(state.layer);
    const wanted = { ...state };
    paintRequest.abort();
    paintRequest = new AbortController();
    const samples = sampleRequests.signal;
    const signal = AbortSignal.any([samples, paintRequest.signal]);
    try {
      const [slice, lut] = await Promise.all([sliceFor(wanted, layer, signal), colormaps.lut(wanted.colormap)]);
      if (token !== paintToken) return;
      paintCanvas(ui.heatmap, slice.values, slice.side, lut);
      paintCanvas(ui.overlay, slice.values, slice.side, lut);
      ui.overlay.style.opacity = String(wanted.opacity);
      placeMarker(ui["image-marker"], slice.cell);
      placeMarker(ui["map-marker"], slice.cell);
      showReadout(layer, slice.cell, slice.stats, wanted);
      Object.assign(ui.heatmap.dataset, {
        seed: wanted.seed, cls: wanted.cls ?? "", truncation: wanted.truncation ?? "", layer: wanted.layer,
        x: wanted.x, y: wanted.y, direction: wanted.direction, colormap: wanted.colormap, index: slice.cell.index,
        source: slice.compact ? "compact" : "slice", painted: String(token),
      });
      ui.status.textContent = "";
      if (!slice.compact) {
        api.compact(wanted, layer.name, wanted.direction, samples).catch((error) => {
          if (error.name !== "AbortError") ui.status.textContent = `Could not load the hover data: ${error.message}`;
        });
      }
    } catch (error) {
      if (error.name === "AbortError") return;
      if (token === paintToken) ui.status.textContent = `Could not load the map: ${error.message}`;
    }
  }

  function showSample() {
    ui.seed.value = String(state.seed);
    if (model.classes) {
      ui.class.value = classLabel(state.cls, model.classes);
      ui.truncation.value = String(state.truncation);
      ui["truncation-value"].textContent = state.truncation.toFixed(2);
    }
    ui.sample.src = api.sampleUrl(state);
  }

  function setState(changes) {
    const before = sampleKey(state);
    Object.assign(state, changes);
    writeState();
    if (sampleKey(state) !== before) {
      sampleRequests.abort();
      sampleRequests = new AbortController();
      showSample();
    }
    paint();
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

  function buildColormapControl(names) {
    for (const name of names.includes(state.colormap) ? names : [...names, state.colormap]) {
      ui.colormap.append(new Option(name, name));
    }
    ui.colormap.value = state.colormap;
  }

  function moveByKey(event) {
    if (event.target instanceof HTMLInputElement && event.target.type !== "checkbox" && event.target.type !== "radio") return;
    if (event.target instanceof HTMLSelectElement) return;
    const step = event.shiftKey ? pixelsPerCell(imageSize, markerGrid(layersByName.get(state.layer), state.direction)) : 1;
    const moves = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] };
    const move = moves[event.key];
    if (!move) return;
    event.preventDefault();
    setState({
      x: Math.min(imageSize - 1, Math.max(0, state.x + move[0])),
      y: Math.min(imageSize - 1, Math.max(0, state.y + move[1])),
    });
  }

  function bindControls() {
    ui.layer.value = state.layer;
    ui.opacity.value = String(state.opacity);
    ui.directions.find((radio) => radio.value === state.direction).checked = true;

    ui.seed.addEventListener("change", () => setState({ seed: clampInt(ui.seed.value, 0, SEED_LIMIT - 1, state.seed) }));
    ui["prev-seed"].addEventListener("click", () => setState({ seed: (state.seed + SEED_LIMIT - 1) % SEED_LIMIT }));
    ui["next-seed"].addEventListener("click", () => setState({ seed: (state.seed + 1) % SEED_LIMIT }));
    ui["random-seed"].addEventListener("click", () => setState({ seed: Math.floor(Math.random() * SEED_LIMIT) }));
    ui.layer.addEventListener("change", () => setState({ layer: ui.layer.value }));
    ui.colormap.addEventListener("change", () => setState({ colormap: ui.colormap.value }));
    ui.opacity.addEventListener("input", () => setState({ opacity: Number.parseFloat(ui.opacity.value) }));
    for (const radio of ui.directions) radio.addEventListener("change", () => setState({ direction: radio.value }));
    for (const stack of [ui["image-stack"], ui["map-stack"]]) {
      const pixelOf = (event) => pixelAt(event.clientX, event.clientY, stack.getBoundingClientRect(), imageSize);
      stack.addEventListener("click", (event) => setState(pixelOf(event)));
      stack.addEventListener("pointermove", (event) => {
        if (!ui.follow.checked) return;
        const { x, y } = pixelOf(event);
        if (x !== state.x || y !== state.y) setState({ x, y });
      });
    }
    document.addEventListener("keydown", moveByKey);
  }

  ui.sample.width = imageSize;
  ui.sample.height = imageSize;
  buildLayerControls();
  buildSamplingControls();
  bindControls();
  writeState();
  showSample();
  const painted = paint();
  try {
    buildColormapControl(await colormaps.names());
  } catch (error) {
    ui.status.textContent = `Could not load the colormaps: ${error.message}`;
  }
  await painted;
}
