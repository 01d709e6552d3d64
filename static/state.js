// The view's state and its URL: every field is read from and written to the query string, so a
// copied link reproduces the view. Conditional models add the class (an index) and the truncation.
// A value the URL gets wrong is clamped or defaulted, and each such change is reported as a notice.

export const SEED_LIMIT = 2 ** 32;
export const MAX_PINS = 10;
export const SCALES = ["relative", "absolute", "uniform", "log"];
export const CONTRASTS = ["none", "ratio", "difference"];
export const HOVER_MODES = ["preview", "off"];
const DEFAULT_OPACITY = 0.6;
const DEFAULT_COLORMAP = "viridis";

export function clampInt(value, low, high, fallback) {
  const n = Number.parseInt(value, 10);
  return Number.isFinite(n) && n >= low && n <= high ? n : fallback;
}

// A truncation inside the model's (low, high], or the fallback.
export function truncationIn(value, range, fallback) {
  const t = Number.parseFloat(value);
  return Number.isFinite(t) && t > range.low && t <= range.high ? t : fallback;
}

// "x1,y1;x2,y2" → [{x, y}], keeping pairs of integers inside the image, at most MAX_PINS.
export function parsePins(text, size) {
  const pins = [];
  for (const pair of (text ?? "").split(";")) {
    const match = /^\s*(\d+)\s*,\s*(\d+)\s*$/.exec(pair);
    if (match && Number(match[1]) < size && Number(match[2]) < size) pins.push({ x: Number(match[1]), y: Number(match[2]) });
  }
  return pins.slice(0, MAX_PINS);
}

export function formatPins(pins) {
  return pins.map((pin) => `${pin.x},${pin.y}`).join(";");
}

// One URL parameter read against its rule; a present but unusable value adds a notice.
function reader(params, notices) {
  return (name, parse, fallback) => {
    const raw = params.get(name);
    if (raw === null) return fallback;
    const { value, note } = parse(raw);
    if (note) notices.push(`${name}=${raw}: ${note}`);
    return value ?? fallback;
  };
}

function integerIn(low, high, fallback) {
  return (raw) => {
    const n = Number(raw);
    if (raw.trim() === "" || !Number.isFinite(n)) return { value: fallback, note: `not a number; using ${fallback}` };
    const rounded = Math.round(n);
    const clamped = Math.min(high, Math.max(low, rounded));
    if (clamped !== n) return { value: clamped, note: `outside ${low}–${high}; clamped to ${clamped}` };
    return { value: clamped };
  };
}

function oneOf(allowed, fallback) {
  return (raw) => (allowed.includes(raw) ? { value: raw } : { value: fallback, note: `not one of ${allowed.join(", ")}; using ${fallback}` });
}

// model: one entry of /api/models; search: location.search. → { state, notices }
export function readState(search, model) {
  const params = new URLSearchParams(search);
  const notices = [];
  const read = reader(params, notices);
  const size = model.image_size;
  const center = Math.floor(size / 2);
  const layerNames = model.layers.map((layer) => layer.name);
  const state = {
    seed: read("seed", integerIn(0, SEED_LIMIT - 1, 0), 0),
    cls: model.classes ? clampInt(params.get("class"), 0, model.classes.length - 1, 0) : null,
    truncation: model.truncation ? truncationIn(params.get("truncation"), model.truncation, model.truncation.default) : null,
    layer: read("layer", oneOf(layerNames, model.default_layer), model.default_layer),
    head: params.get("head") ?? "mean",
    x: read("x", integerIn(0, size - 1, center), center),
    y: read("y", integerIn(0, size - 1, center), center),
    direction: read("direction", oneOf(["row", "column"], "row"), "row"),
    colormap: params.get("colormap") || DEFAULT_COLORMAP,
    opacity: read("opacity", (raw) => {
      const n = Number(raw);
      if (raw.trim() === "" || !Number.isFinite(n)) return { value: DEFAULT_OPACITY, note: `not a number; using ${DEFAULT_OPACITY}` };
      const clamped = Math.min(1, Math.max(0, n));
      return clamped === n ? { value: n } : { value: clamped, note: `outside 0–1; clamped to ${clamped}` };
    }, DEFAULT_OPACITY),
    hover: read("hover", oneOf(HOVER_MODES, "preview"), "preview"),
    scale: read("scale", oneOf(SCALES, "relative"), "relative"),
    contrast: read("contrast", oneOf(CONTRASTS, "none"), "none"),
    layers: read("layers", oneOf(["one", "all"], "one"), "one"),
    mass: read("mass", integerIn(0, 100, 0), 0),
    pins: read("pins", (raw) => {
      const pins = parsePins(raw, size);
      const given = raw.split(";").filter((pair) => pair.trim() !== "").length;
      return pins.length === given ? { value: pins } : { value: pins, note: `kept ${pins.length} of ${given} pins (x,y inside the image, at most ${MAX_PINS})` };
    }, []),
  };
  return { state, notices };
}

// The colormap once the server's names are known: an unknown one falls back to viridis with a notice.
export function checkColormap(state, names) {
  if (names.includes(state.colormap)) return null;
  const note = `colormap=${state.colormap}: not a colormap here; using ${DEFAULT_COLORMAP}`;
  state.colormap = DEFAULT_COLORMAP;
  return note;
}

export function stateQuery(state) {
  const params = new URLSearchParams({ seed: state.seed });
  if (state.cls !== null) params.set("class", state.cls);
  if (state.truncation !== null) params.set("truncation", state.truncation);
  if (state.head !== "mean") params.set("head", state.head);
  for (const key of ["layer", "x", "y", "direction", "colormap", "opacity", "hover", "scale", "contrast", "layers", "mass"]) {
    params.set(key, state[key]);
  }
  if (state.pins.length) params.set("pins", formatPins(state.pins));
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
