// The view's state and its URL: every field is read from and written to the query string, so a
// copied link reproduces the view.

export const SEED_LIMIT = 2 ** 32;

export function clampInt(value, low, high, fallback) {
  const n = Number.parseInt(value, 10);
  return Number.isFinite(n) && n >= low && n <= high ? n : fallback;
}

// model: one entry of /api/models; search: location.search.
export function readState(search, model) {
  const params = new URLSearchParams(search);
  const size = model.image_size;
  const center = Math.floor(size / 2);
  const layerNames = new Set(model.layers.map((layer) => layer.name));
  return {
    seed: clampInt(params.get("seed"), 0, SEED_LIMIT - 1, 0),
    layer: layerNames.has(params.get("layer")) ? params.get("layer") : model.default_layer,
    x: clampInt(params.get("x"), 0, size - 1, center),
    y: clampInt(params.get("y"), 0, size - 1, center),
    direction: params.get("direction") === "column" ? "column" : "row",
    colormap: params.get("colormap") || "viridis",
    opacity: Math.min(1, Math.max(0, Number.parseFloat(params.get("opacity") ?? "0.6") || 0)),
  };
}

export function stateQuery(state) {
  const params = new URLSearchParams({
    seed: state.seed, layer: state.layer, x: state.x, y: state.y,
    direction: state.direction, colormap: state.colormap, opacity: state.opacity,
  });
  return `?${params}`;
}
