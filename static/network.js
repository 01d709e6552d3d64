// The REST API as the page uses it. Every locked map comes from raw float32 slices (slice.f32,
// contrast.f32), kept by cell; the data hover needs follows as 8-bit slices with a scale each (slices.u8, gzipped by
// the server), fetched once per sample, layer and direction and kept. Every request of a sample
// takes that sample's AbortSignal, so a sample change cancels what is still in flight.

import { headFor, headQuery } from "./heads.js";

const COMPACT_CACHE_LIMIT = 8;
const EXACT_CACHE_LIMIT = 256;

async function fetchOk(url, signal) {
  const response = await fetch(url, { signal });
  if (!response.ok) {
    let detail = response.statusText;
    try { detail = (await response.json()).detail ?? detail; } catch { /* not JSON */ }
    throw new Error(typeof detail === "string" ? detail : JSON.stringify(detail));
  }
  return response;
}

function remembered(cache, key, load) {
  if (!cache.has(key)) {
    const promise = load();
    promise.catch(() => cache.delete(key));
    cache.set(key, promise);
  }
  return cache.get(key);
}

// The query that names a sample beyond its seed: class and truncation for conditional models.
export function sampleQuery(sample) {
  const params = new URLSearchParams();
  if (sample.cls !== null) params.set("class", sample.cls);
  if (sample.truncation !== null) params.set("truncation", sample.truncation);
  return params.toString();
}

export function sampleKey(sample) {
  return `${sample.seed}/${sample.cls}/${sample.truncation}`;
}

// "K float32 scales, then K·L uint8" (see the slices.u8 route) → { scales, quantised, count, length }.
export function decodeCompact(buffer, count, length) {
  return {
    scales: new Float32Array(buffer, 0, count),
    quantised: new Uint8Array(buffer, 4 * count, count * length),
    count,
    length,
  };
}

// One slice of the compact form as float values v = q·scale/255.
export function compactValues(compact, index) {
  const factor = compact.scales[index] / 255;
  const start = index * compact.length;
  return Float32Array.from(compact.quantised.subarray(start, start + compact.length), (q) => q * factor);
}

// remembered, keeping the newest EXACT_CACHE_LIMIT entries.
function kept(cache, key, load) {
  const promise = remembered(cache, key, load);
  while (cache.size > EXACT_CACHE_LIMIT) cache.delete(cache.keys().next().value);
  return promise;
}

export function modelApi(modelName) {
  const base = `/api/models/${encodeURIComponent(modelName)}`;
  const compacts = new Map(); // "sample/layer/direction" → Promise<compact>
  const ready = new Map(); // the same keys → compact, once arrived
  const exact = new Map(); // "sample/layer/direction/cell[/contrast]" → Promise of float32 values
  const url = (sample, path, extra = {}) => {
    const query = new URLSearchParams(sampleQuery(sample));
    for (const [name, value] of Object.entries(extra)) query.set(name, value);
    if (extra.layer !== undefined) for (const [name, value] of Object.entries(headQuery(extra.layer, sample.head))) query.set(name, value);
    const text = query.toString();
    return `${base}/samples/${sample.seed}${path}${text ? `?${text}` : ""}`;
  };
  return {
    base,
    url,
    sampleUrl: (sample) => url(sample, ".png"),
    thumbnailUrl: (sample, size) => url(sample, ".png", { size }),
    figureUrl(sample, format, params) {
      const query = new URLSearchParams(sampleQuery(sample));
      query.set("seed", sample.seed);
      for (const [name, value] of Object.entries(params)) query.set(name, value);
      return `${base}/figure.${format}?${query}`;
    },
    // One exact slice (float32), kept by its cell: `cell` is the flat index of (x, y)'s cell.
    slice(sample, layer, direction, x, y, cell, signal) {
      return kept(exact, `${sampleKey(sample)}/${layer}/${headFor(layer, sample.head)}/${direction}/${cell}`, async () => {
        const response = await fetchOk(url(sample, "/slice.f32", { layer, direction, x, y }), signal);
        return { values: new Float32Array(await response.arrayBuffer()), side: Number(response.headers.get("X-Grid")) };
      });
    },
    // One slice against the sample's average row, computed by the server in float32 (see contrast.f32).
    contrast(sample, layer, direction, x, y, mode, cell, signal) {
      return kept(exact, `${sampleKey(sample)}/${layer}/${headFor(layer, sample.head)}/${direction}/${cell}/${mode}`, async () => {
        const response = await fetchOk(url(sample, "/contrast.f32", { layer, direction, x, y, mode }), signal);
        return new Float32Array(await response.arrayBuffer());
      });
    },
    // The sample with `layer`'s γ = 0, as a Blob.
    async ablation(sample, layer, signal) {
      return (await fetchOk(url(sample, "/ablation.png", { layer }), signal)).blob();
    },
    // The per-pixel difference from the γ = 0 sample, coloured, with its largest and mean value.
    async difference(sample, layer, colormap, signal) {
      const response = await fetchOk(url(sample, "/ablation-difference.png", { layer, colormap }), signal);
      return {
        blob: await response.blob(),
        max: Number(response.headers.get("X-Difference-Max")),
        mean: Number(response.headers.get("X-Difference-Mean")),
      };
    },
    // ‖γ·o‖ / ‖x‖ on the layer's query grid: { layer, query_grid, values, mean, formula }.
    async effect(sample, layer, signal) {
      return (await fetchOk(url(sample, "/effect", { layer }), signal)).json();
    },
    // Each layer's mean ‖γ·o‖ / ‖x‖ over seeds 0–15: { seeds, class, truncation, layers: { name: mean }, formula }.
    async effectMeans() {
      return (await fetchOk(`${base}/effect-means`)).json();
    },
    compactReady: (sample, layer, direction) => ready.get(`${sampleKey(sample)}/${layer}/${headFor(layer, sample.head)}/${direction}`),
    compact(sample, layer, direction, signal) {
      const key = `${sampleKey(sample)}/${layer}/${headFor(layer, sample.head)}/${direction}`;
      const promise = remembered(compacts, key, async () => {
        const response = await fetchOk(url(sample, "/slices.u8", { layer, direction }), signal);
        const count = Number(response.headers.get("X-Slices"));
        const length = Number(response.headers.get("X-Slice-Length"));
        const compact = decodeCompact(await response.arrayBuffer(), count, length);
        ready.set(key, compact);
        return compact;
      });
      while (compacts.size > COMPACT_CACHE_LIMIT) {
        const oldest = compacts.keys().next().value;
        compacts.delete(oldest);
        ready.delete(oldest);
      }
      return promise;
    },
  };
}

export function colormapApi() {
  const luts = new Map(); // colormap → Promise<Uint8Array(768)>
  let names = null;
  return {
    lut: (name) => remembered(luts, name, () =>
      fetchOk(`/api/colormaps/${encodeURIComponent(name)}`)
        .then((response) => response.json())
        .then((body) => Uint8Array.from(body.lut.flat()))),
    names() {
      names ??= fetchOk("/api/colormaps").then((response) => response.json()).then((body) => body.colormaps);
      return names;
    },
  };
}
