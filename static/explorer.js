// The explorer page: fetch a sample's attention matrix once (raw float32), then colour any
// query's map on a canvas with no round-trip per pointer move.
// Rows ("where this pixel looks") lie on the key grid; columns ("what looks at this pixel") on the
// query grid. Both are scaled by their maximum for display, exactly as the PNG endpoint does.

const SEED_LIMIT = 2 ** 32;
const root = document.getElementById("explorer");
const models = JSON.parse(root.dataset.models);
const model = models.find((m) => m.name === root.dataset.defaultModel) ?? models[0];
const imageSize = model.image_size;
const layersByName = new Map(model.layers.map((layer) => [layer.name, layer]));

const $ = (id) => document.getElementById(id);
const ui = {
  seed: $("seed"), layer: $("layer"), colormap: $("colormap"), opacity: $("opacity"), follow: $("follow"),
  sample: $("sample"), overlay: $("overlay"), heatmap: $("heatmap"), imageStack: $("image-stack"),
  mapStack: $("map-stack"), imageMarker: $("image-marker"), mapMarker: $("map-marker"), status: $("status"),
  layerList: $("layer-list"), mapCaption: $("map-caption"),
};

function clampInt(value, low, high, fallback) {
  const n = Number.parseInt(value, 10);
  return Number.isFinite(n) && n >= low && n <= high ? n : fallback;
}

function readState() {
  const params = new URLSearchParams(location.search);
  const center = Math.floor(imageSize / 2);
  return {
    seed: clampInt(params.get("seed"), 0, SEED_LIMIT - 1, 0),
    layer: layersByName.has(params.get("layer")) ? params.get("layer") : model.default_layer,
    x: clampInt(params.get("x"), 0, imageSize - 1, center),
    y: clampInt(params.get("y"), 0, imageSize - 1, center),
    direction: params.get("direction") === "column" ? "column" : "row",
    colormap: params.get("colormap") || "viridis",
    opacity: Math.min(1, Math.max(0, Number.parseFloat(params.get("opacity") ?? "0.6") || 0)),
  };
}

const state = readState();

function writeState() {
  const params = new URLSearchParams({
    seed: state.seed, layer: state.layer, x: state.x, y: state.y,
    direction: state.direction, colormap: state.colormap, opacity: state.opacity,
  });
  history.replaceState(null, "", `?${params}`);
}

const apiBase = `/api/models/${encodeURIComponent(model.name)}`;
const matrixCache = new Map(); // "seed/layer" → Promise<Float32Array>, a few recent ones
const lutCache = new Map(); // colormap → Promise<Uint8Array(768)>
const MATRIX_CACHE_LIMIT = 8;

async function fetchOk(url) {
  const response = await fetch(url);
  if (!response.ok) {
    let detail = response.statusText;
    try { detail = (await response.json()).detail ?? detail; } catch { /* not JSON */ }
    throw new Error(typeof detail === "string" ? detail : JSON.stringify(detail));
  }
  return response;
}

function attentionMatrix(seed, layer) {
  const key = `${seed}/${layer}`;
  if (!matrixCache.has(key)) {
    const promise = fetchOk(`${apiBase}/samples/${seed}/attention.f32?layer=${encodeURIComponent(layer)}`)
      .then((response) => response.arrayBuffer())
      .then((buffer) => new Float32Array(buffer));
    promise.catch(() => matrixCache.delete(key));
    matrixCache.set(key, promise);
    while (matrixCache.size > MATRIX_CACHE_LIMIT) matrixCache.delete(matrixCache.keys().next().value);
  }
  return matrixCache.get(key);
}

function colormapLut(name) {
  if (!lutCache.has(name)) {
    const promise = fetchOk(`/api/colormaps/${encodeURIComponent(name)}`)
      .then((response) => response.json())
      .then((body) => Uint8Array.from(body.lut.flat()));
    promise.catch(() => lutCache.delete(name));
    lutCache.set(name, promise);
  }
  return lutCache.get(name);
}

function cellOf(x, y, grid) {
  const row = Math.floor((y * grid) / imageSize);
  const col = Math.floor((x * grid) / imageSize);
  return { row, col, index: row * grid + col, grid };
}

// One query's row (on the key grid) or one key's column (on the query grid).
function slice(matrix, layer, direction, x, y) {
  const n = layer.query_grid * layer.query_grid;
  const m = layer.key_grid * layer.key_grid;
  if (direction === "row") {
    const cell = cellOf(x, y, layer.query_grid);
    return { values: matrix.subarray(cell.index * m, (cell.index + 1) * m), side: layer.key_grid, cell };
  }
  const cell = cellOf(x, y, layer.key_grid);
  const values = new Float32Array(n);
  for (let i = 0; i < n; i++) values[i] = matrix[i * m + cell.index];
  return { values, side: layer.query_grid, cell };
}

function paintCanvas(canvas, values, side, lut) {
  let peak = 0;
  let total = 0;
  for (const v of values) { if (v > peak) peak = v; total += v; }
  canvas.width = side;
  canvas.height = side;
  const context = canvas.getContext("2d");
  const image = context.createImageData(side, side);
  for (let i = 0; i < values.length; i++) {
    const scaled = peak > 0 ? Math.min(1, Math.max(0, values[i] / peak)) : 0;
    const k = Math.floor(scaled * 255 + 0.5) * 3;
    image.data[i * 4] = lut[k];
    image.data[i * 4 + 1] = lut[k + 1];
    image.data[i * 4 + 2] = lut[k + 2];
    image.data[i * 4 + 3] = 255;
  }
  context.putImageData(image, 0, 0);
  return { peak, total };
}

function placeMarker(marker, cell) {
  const size = 100 / cell.grid;
  marker.style.left = `${cell.col * size}%`;
  marker.style.top = `${cell.row * size}%`;
  marker.style.width = `${size}%`;
  marker.style.height = `${size}%`;
  marker.hidden = false;
}

function updateReadout(layer, cell, stats) {
  const perCell = imageSize / cell.grid;
  const gridName = state.direction === "row" ? "query" : "key";
  const x0 = cell.col * perCell;
  const y0 = cell.row * perCell;
  $("readout-pixel").textContent = `(x ${state.x}, y ${state.y}) of ${imageSize}×${imageSize}`;
  $("readout-cell").textContent = `row ${cell.row}, col ${cell.col}, index ${cell.index} on the ${cell.grid}×${cell.grid} ${gridName} grid`;
  $("readout-mapping").textContent = `${perCell}×${perCell} pixels per cell: x ${x0}–${x0 + perCell - 1}, y ${y0}–${y0 + perCell - 1}`;
  $("readout-gamma").textContent = `${layer.gamma.toFixed(4)}${Math.abs(layer.gamma) < 0.01 ? " (near 0: this layer barely uses attention)" : ""}`;
  $("readout-stats").textContent = state.direction === "row"
    ? `row over ${layer.key_grid}×${layer.key_grid} keys, sum ${stats.total.toFixed(3)}, max ${stats.peak.toExponential(3)}`
    : `column over ${layer.query_grid}×${layer.query_grid} queries, sum ${stats.total.toFixed(3)} (columns need not sum to 1), max ${stats.peak.toExponential(3)}`;
  ui.mapCaption.textContent = state.direction === "row"
    ? `Where pixel (${state.x}, ${state.y}) looks · ${layer.name}, key grid ${layer.key_grid}×${layer.key_grid}`
    : `What looks at pixel (${state.x}, ${state.y}) · ${layer.name}, query grid ${layer.query_grid}×${layer.query_grid}`;
  const query = `layer=${layer.name}&x=${state.x}&y=${state.y}&direction=${state.direction}`;
  $("link-png").href = `${apiBase}/samples/${state.seed}/heatmap.png?${query}&colormap=${encodeURIComponent(state.colormap)}&overlay=true&size=512&marker=true`;
  $("link-json").href = `${apiBase}/samples/${state.seed}/attention?${query}`;
  $("link-npy").href = `${apiBase}/samples/${state.seed}/attention.npy?layer=${layer.name}`;
}

let paintToken = 0;

async function paint() {
  const token = ++paintToken;
  const layer = layersByName.get(state.layer);
  const wanted = { ...state };
  try {
    const [matrix, lut] = await Promise.all([attentionMatrix(wanted.seed, wanted.layer), colormapLut(wanted.colormap)]);
    if (token !== paintToken) return;
    const { values, side, cell } = slice(matrix, layer, wanted.direction, wanted.x, wanted.y);
    const stats = paintCanvas(ui.heatmap, values, side, lut);
    paintCanvas(ui.overlay, values, side, lut);
    ui.overlay.style.opacity = String(wanted.opacity);
    placeMarker(ui.imageMarker, cell);
    placeMarker(ui.mapMarker, cell);
    updateReadout(layer, cell, stats);
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
  ui.sample.src = `${apiBase}/samples/${state.seed}.png`;
}

function setState(changes) {
  const seedChanged = "seed" in changes && changes.seed !== state.seed;
  Object.assign(state, changes);
  writeState();
  if (seedChanged) showSample();
  paint();
}

function pixelFromEvent(event, element) {
  const box = element.getBoundingClientRect();
  const x = Math.floor(((event.clientX - box.left) / box.width) * imageSize);
  const y = Math.floor(((event.clientY - box.top) / box.height) * imageSize);
  return { x: Math.min(imageSize - 1, Math.max(0, x)), y: Math.min(imageSize - 1, Math.max(0, y)) };
}

function buildLayerControls() {
  for (const layer of model.layers) {
    const option = document.createElement("option");
    option.value = layer.name;
    option.textContent = `${layer.name} · ${layer.query_grid}×${layer.query_grid} · γ ${layer.gamma.toFixed(3)}`;
    ui.layer.append(option);
    const item = document.createElement("li");
    const keys = layer.key_grid === layer.query_grid ? "" : `, keys pooled to ${layer.key_grid}×${layer.key_grid}`;
    item.textContent = `${layer.name}: queries ${layer.query_grid}×${layer.query_grid}${keys}, ${imageSize / layer.query_grid}×${imageSize / layer.query_grid} px per cell, γ = ${layer.gamma.toFixed(4)}`;
    item.dataset.layer = layer.name;
    ui.layerList.append(item);
  }
}

function bindControls() {
  ui.layer.value = state.layer;
  ui.colormap.value = state.colormap;
  if (ui.colormap.value !== state.colormap) {
    const option = new Option(state.colormap, state.colormap);
    ui.colormap.append(option);
    ui.colormap.value = state.colormap;
  }
  ui.opacity.value = String(state.opacity);
  document.querySelector(`input[name="direction"][value="${state.direction}"]`).checked = true;

  ui.seed.addEventListener("change", () => setState({ seed: clampInt(ui.seed.value, 0, SEED_LIMIT - 1, state.seed) }));
  $("prev-seed").addEventListener("click", () => setState({ seed: (state.seed + SEED_LIMIT - 1) % SEED_LIMIT }));
  $("next-seed").addEventListener("click", () => setState({ seed: (state.seed + 1) % SEED_LIMIT }));
  $("random-seed").addEventListener("click", () => setState({ seed: Math.floor(Math.random() * SEED_LIMIT) }));
  ui.layer.addEventListener("change", () => setState({ layer: ui.layer.value }));
  ui.colormap.addEventListener("change", () => setState({ colormap: ui.colormap.value }));
  ui.opacity.addEventListener("input", () => setState({ opacity: Number.parseFloat(ui.opacity.value) }));
  for (const radio of document.querySelectorAll('input[name="direction"]')) {
    radio.addEventListener("change", () => setState({ direction: radio.value }));
  }
  for (const stack of [ui.imageStack, ui.mapStack]) {
    stack.addEventListener("click", (event) => setState(pixelFromEvent(event, stack)));
    stack.addEventListener("pointermove", (event) => {
      if (!ui.follow.checked) return;
      const { x, y } = pixelFromEvent(event, stack);
      if (x !== state.x || y !== state.y) setState({ x, y });
    });
  }
  document.addEventListener("keydown", (event) => {
    if (event.target instanceof HTMLInputElement && event.target.type !== "checkbox" && event.target.type !== "radio") return;
    if (event.target instanceof HTMLSelectElement) return;
    const layer = layersByName.get(state.layer);
    const grid = state.direction === "row" ? layer.query_grid : layer.key_grid;
    const step = event.shiftKey ? imageSize / grid : 1;
    const moves = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] };
    const move = moves[event.key];
    if (!move) return;
    event.preventDefault();
    setState({
      x: Math.min(imageSize - 1, Math.max(0, state.x + move[0])),
      y: Math.min(imageSize - 1, Math.max(0, state.y + move[1])),
    });
  });
}

buildLayerControls();
bindControls();
writeState();
showSample();
paint();
