// The view's state and its URL: every field is read from and written to the query string, so a
// copied link reproduces the view. Conditional models add the class (an index or a name in the URL,
// an index once read) and the truncation.
// A value the URL gets wrong is clamped or defaulted, and each such change is reported as a notice.

import { MEAN, headCount, headFor } from "./heads.js";

export const SEED_LIMIT = 2 ** 32;
export const MAX_PINS = 10;
export const SCALES = ["relative", "absolute", "uniform", "log"];
export const CONTRASTS = ["none", "ratio", "difference"];
export const HOVER_MODES = ["preview", "off"];
// "value": each cell's opacity follows its value times the opacity slider, so low attention stays
// transparent; "flat": every cell at the slider's opacity.
export const OVERLAY_MODES = ["value", "flat"];
const DEFAULT_OPACITY = 0.6;
const DEFAULT_COLORMAP = "viridis";

// A rule for a number in [low, high]: raw text → { value, note }, the note saying in a few words what
// happened (not a number, rounded, clamped). URL values and typed values go through the same rules.
export function numberIn(low, high, fallback, { integer = false } = {}) {
  return (raw) => {
    const n = Number(raw);
    if (String(raw).trim() === "" || !Number.isFinite(n)) return { value: fallback, note: `not a number; using ${fallback}` };
    if (n > high) return { value: high, note: `above ${high}; clamped to ${high}` };
    if (n < low) return { value: low, note: `below ${low}; clamped to ${low}` };
    const value = integer ? Math.round(n) + 0 : n;
    return value === n ? { value } : { value, note: `rounded to ${value}` };
  };
}

export const integerIn = (low, high, fallback) => numberIn(low, high, fallback, { integer: true });

// The lowest truncation the page offers: the model's range is (low, high], in steps of 0.01.
export function truncationFloor(range) {
  return Math.max(range.low + 0.01, 0.01);
}

export function truncationIn(range, fallback) {
  return numberIn(truncationFloor(range), range.high, fallback);
}

// A class given as an index or a name, as the API takes it (see classFromText).
export function classIn(names, fallback) {
  return (raw) => {
    const index = classFromText(raw, names);
    if (index !== null) return { value: index };
    return { value: fallback, note: `not a class here (0–${names.length - 1} or a name); using ${classLabel(fallback, names)}` };
  };
}

// A head of `layerName` given as "mean" or an index below its head count (heads.js says which).
function headIn(layerName) {
  return (raw) => {
    if (headFor(layerName, raw) === raw) return { value: raw };
    if (raw === "0" && headCount(layerName) === 1) return { value: MEAN };  // a layer's only head is their mean
    const count = headCount(layerName);
    return { value: MEAN, note: count > 1 ? `not a head here (0–${count - 1} or mean); using mean` : "this layer has one head; using mean" };
  };
}

// A value through its rule; the note, if any, names the value: "mass=150: above 100; clamped to 100".
export function ruled(name, raw, rule) {
  const { value, note } = rule(raw);
  const shown = raw.length > 24 ? `${raw.slice(0, 20)}…` : raw;
  return { value, note: note ? `${name}=${shown}: ${note}` : null };
}

// "x1,y1;x2,y2" → { pins: [{x, y}], dropped, cut }: pairs of integers inside the image, at most MAX_PINS;
// dropped counts the pairs that are not, cut whether more than MAX_PINS remained.
export function parsePins(text, size) {
  const pins = [];
  let dropped = 0;
  for (const pair of (text ?? "").split(";")) {
    if (pair.trim() === "") continue;
    const match = /^\s*(\d+)\s*,\s*(\d+)\s*$/.exec(pair);
    if (match && Number(match[1]) < size && Number(match[2]) < size) pins.push({ x: Number(match[1]), y: Number(match[2]) });
    else dropped += 1;
  }
  return { pins: pins.slice(0, MAX_PINS), dropped, cut: pins.length > MAX_PINS };
}

function pinsIn(size) {
  return (raw) => {
    const { pins, dropped, cut } = parsePins(raw, size);
    const notes = [];
    if (dropped) notes.push(`dropped ${dropped} not x,y inside the image`);
    if (cut) notes.push(`cut to ${MAX_PINS} pins`);
    return { value: pins, note: notes.join("; ") || null };
  };
}

export function formatPins(pins) {
  return pins.map((pin) => `${pin.x},${pin.y}`).join(";");
}

// One URL parameter read against its rule; a present but unusable value adds a notice.
function reader(params, notices) {
  return (name, rule, fallback) => {
    const raw = params.get(name);
    if (raw === null) return fallback;
    const { value, note } = ruled(name, raw, rule);
    if (note) notices.push(note);
    return value ?? fallback;
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
  const layer = read("layer", oneOf(layerNames, model.default_layer), model.default_layer);
  const state = {
    seed: read("seed", integerIn(0, SEED_LIMIT - 1, 0), 0),
    cls: model.classes ? read("class", classIn(model.classes, 0), 0) : null,
    truncation: model.truncation
      ? read("truncation", truncationIn(model.truncation, model.truncation.default), model.truncation.default) : null,
    layer,
    head: read("head", headIn(layer), MEAN),
    x: read("x", integerIn(0, size - 1, center), center),
    y: read("y", integerIn(0, size - 1, center), center),
    direction: read("direction", oneOf(["row", "column"], "row"), "row"),
    colormap: params.get("colormap") || DEFAULT_COLORMAP,
    opacity: read("opacity", numberIn(0, 1, DEFAULT_OPACITY), DEFAULT_OPACITY),
    overlay: read("overlay", oneOf(OVERLAY_MODES, OVERLAY_MODES[0]), OVERLAY_MODES[0]),
    hover: read("hover", oneOf(HOVER_MODES, "preview"), "preview"),
    scale: read("scale", oneOf(SCALES, "relative"), "relative"),
    contrast: read("contrast", oneOf(CONTRASTS, "none"), "none"),
    layers: read("layers", oneOf(["one", "all"], "one"), "one"),
    mass: read("mass", integerIn(0, 100, 0), 0),
    pins: read("pins", pinsIn(size), []),
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
  for (const key of ["layer", "x", "y", "direction", "colormap", "opacity", "overlay", "hover", "scale", "contrast", "layers", "mass"]) {
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
