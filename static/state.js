// The view's state and its URL: every field is read from and written to the query string, so a
// copied link reproduces the view. Conditional models add the class (an index) and the truncation.

export const SEED_LIMIT = 2 ** 32;

export function clampInt(value, low, high, fallback) {
  const n = Number.parseInt(value, 10);
  return Number.isFinite(n) && n >= low && n <= high ? n : fallback;
}

// A truncation inside the model's (low, high], or the fallback.
export function truncationIn(value, range, fallback) {
  const t = Number.parseFloat(value);
  return Number.isFinite(t) && t > range.low && t <= range.high ? t : fallback;
}

// model: one entry of /api/models; search: location.search.
export function readState(search, model) {
  const params = new URLSearchParams(search);
  const size = model.image_size;
  const center = Math.floor(size / 2);
  const layerNames = new Set(model.layers.map((layer) => layer.name));
  return {
    seed: clampInt(params.get("seed"), 0, SEED_LIMIT - 1, 0),
    cls: model.classes ? clampInt(params.get("class"), 0, model.classes.length - 1, 0) : null,
    truncation: model.truncation ? truncationIn(params.get("truncation"), model.truncation, model.truncation.default) : null,
    layer: layerNames.has(params.get("layer")) ? params.get("layer") : model.default_layer,
    x: clampInt(params.get("x"), 0, size - 1, center),
    y: clampInt(params.get("y"), 0, size - 1, center),
    direction: params.get("direction") === "column" ? "column" : "row",
    colormap: params.get("colormap") || "viridis",
    opacity: Math.min(1, Math.max(0, Number.parseFloat(params.get("opacity") ?? "0.6") || 0)),
  };
}

export function stateQuery(state) {
  const params = new URLSearchParams({ seed: state.seed });
  if (state.cls !== null) params.set("class", state.cls);
  if (state.truncation !== null) params.set("truncation", state.truncation);
  for (const key of ["layer", "x", "y", "direction", "colormap", "opacity"]) params.set(key, state[key]);
  return `?${params}`;
}

// What the class box holds → a class index: "123", "123: name", or a name (exact, then ignoring
// case if that names one class), as the API resolves it; null when it names no single class.
export function classFromText(text, names) {
  const trimmed = text.trim();
  const numbered = /^(\d+)(:|$)/.exec(trimmed);
  if (numbered) {
    const index = Number(numbered[1]);
    return index < names.length ? index : null;
  }
  const exact = names.flatMap((name, i) => (name === trimmed ? [i] : []));
  if (exact.length === 1) return exact[0];
  if (exact.length > 1) return null;
  const folded = names.flatMap((name, i) => (name.toLowerCase() === trimmed.toLowerCase() ? [i] : []));
  return folded.length === 1 ? folded[0] : null;
}

export function classLabel(index, names) {
  return `${index}: ${names[index]}`;
}
