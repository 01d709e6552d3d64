// The REST API as the page uses it: a sample's whole matrix once (raw float32), colormap LUTs, and
// the colormap names, each fetched once and kept.

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

function remembered(cache, key, load) {
  if (!cache.has(key)) {
    const promise = load();
    promise.catch(() => cache.delete(key));
    cache.set(key, promise);
  }
  return cache.get(key);
}

export function modelApi(modelName) {
  const base = `/api/models/${encodeURIComponent(modelName)}`;
  const matrices = new Map(); // "seed/layer" → Promise<Float32Array>, a few recent ones
  return {
    base,
    sampleUrl: (seed) => `${base}/samples/${seed}.png`,
    attentionMatrix(seed, layer) {
      const promise = remembered(matrices, `${seed}/${layer}`, () =>
        fetchOk(`${base}/samples/${seed}/attention.f32?layer=${encodeURIComponent(layer)}`)
          .then((response) => response.arrayBuffer())
          .then((buffer) => new Float32Array(buffer)));
      while (matrices.size > MATRIX_CACHE_LIMIT) matrices.delete(matrices.keys().next().value);
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
