// The explorer page: reads the models from the page's data- attributes, fetches a sample's
// attention matrix once and colours any query's map on a canvas with no round-trip per pointer move.

import { layerLabels, paintCanvas, placeMarker, readoutTexts } from "./draw.js";
import { attentionSlice, markerGrid, pixelAt, pixelsPerCell } from "./geometry.js";
import { colormapApi, modelApi } from "./network.js";
import { clampInt, readState, SEED_LIMIT, stateQuery } from "./state.js";

const IDS = [
  "seed", "prev-seed", "next-seed", "random-seed", "layer", "colormap", "opacity", "follow", "sample", "overlay",
  "heatmap", "image-stack", "map-stack", "image-marker", "map-marker", "status", "layer-list", "map-caption",
  "readout-pixel", "readout-cell", "readout-mapping", "readout-gamma", "readout-stats", "link-png", "link-json",
  "link-npy",
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
  const ui = findElements(root);
  const api = modelApi(model.name);
  const colormaps = colormapApi();
  const state = readState(location.search, model);
  let paintToken = 0;

  const writeState = () => history.replaceState(null, "", stateQuery(state));

  function showReadout(layer, cell, stats) {
    const texts = readoutTexts(state, layer, cell, stats, imageSize);
    for (const key of ["pixel", "cell", "mapping", "gamma", "stats"]) ui[`readout-${key}`].textContent = texts[key];
    ui["map-caption"].textContent = texts.caption;
    const query = `layer=${layer.name}&x=${state.x}&y=${state.y}&direction=${state.direction}`;
    const colormap = encodeURIComponent(state.colormap);
    ui["link-png"].href = `${api.base}/samples/${state.seed}/heatmap.png?${query}&colormap=${colormap}&overlay=true&size=512&marker=true`;
    ui["link-json"].href = `${api.base}/samples/${state.seed}/attention?${query}`;
    ui["link-npy"].href = `${api.base}/samples/${state.seed}/attention.npy?layer=${layer.name}`;
  }

  async function paint() {
    const token = ++paintToken;
    const layer = layersByName.get(state.layer);
    const wanted = { ...state };
    try {
      const [matrix, lut] = await Promise.all([api.attentionMatrix(wanted.seed, wanted.layer), colormaps.lut(wanted.colormap)]);
      if (token !== paintToken) return;
      const { values, side, cell } = attentionSlice(matrix, layer, wanted.direction, wanted.x, wanted.y, imageSize);
      const stats = paintCanvas(ui.heatmap, values, side, lut);
      paintCanvas(ui.overlay, values, side, lut);
      ui.overlay.style.opacity = String(wanted.opacity);
      placeMarker(ui["image-marker"], cell);
      placeMarker(ui["map-marker"], cell);
      showReadout(layer, cell, stats);
      Object.assign(ui.heatmap.dataset, {
        seed: wanted.seed, layer: wanted.layer, x: wanted.x, y: wanted.y,
        direction: wanted.direction, colormap: wanted.colormap, index: cell.index, painted: String(token),
      });
      ui.status.textContent = "";
    } catch (error) {
      if (token === paintToken) ui.status.textContent = `Could not load the map: ${error.message}`;
    }
  }

  function showSample() {
    ui.seed.value = String(state.seed);
    ui.sample.src = api.sampleUrl(state.seed);
  }

  function setState(changes) {
    const seedChanged = "seed" in changes && changes.seed !== state.seed;
    Object.assign(state, changes);
    writeState();
    if (seedChanged) showSample();
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

  buildLayerControls();
  bindControls();
  writeState();
  showSample();
  try {
    buildColormapControl(await colormaps.names());
  } catch (error) {
    ui.status.textContent = `Could not load the colormaps: ${error.message}`;
  }
  await paint();
}
