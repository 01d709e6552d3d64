// The values a view shows. A locked view (a click, an arrow key, a link, a pin, every layer) is always
// exact: float32 slices, and float32 contrasts from the server. Only a hover preview may read the
// 8-bit hover data; its numbers are marked ≈. The absolute scale's shared maximum is exact either way:
// each hover slice's scale is its float32 maximum.

import { clickedCell, compactSlice } from "./geometry.js";
import { compactValues } from "./network.js";
import { averageRow, contrast, scaleContrast, scaleSlice } from "./reading.js";

function maxOf(values) {
  let peak = 0;
  for (const v of values) if (v > peak) peak = v;
  return peak;
}

export function mapSource(api, layersByName, imageSize) {
  const averages = new WeakMap(); // compact → its average row

  function averageOf(compact, direction) {
    if (!averages.has(compact)) averages.set(compact, averageRow(compact, direction));
    return averages.get(compact);
  }

  async function exactSlice(wanted, layer, signal) {
    const cell = clickedCell(layer, wanted.direction, wanted.x, wanted.y, imageSize);
    const { values, side } = await api.slice(wanted, layer.name, wanted.direction, wanted.x, wanted.y, cell.index, signal);
    return { values, side, cell, compact: false };
  }

  // A preview's slice: from the kept hover data when it has arrived, else exact.
  function previewSlice(wanted, layer, signal) {
    const compact = api.compactReady(wanted, layer.name, wanted.direction);
    if (!compact) return exactSlice(wanted, layer, signal);
    const { side, cell } = compactSlice(compact, layer, wanted.direction, wanted.x, wanted.y, imageSize);
    return { values: compactValues(compact, cell.index), side, cell, compact: true };
  }

  async function contrastOf(wanted, layer, slice, signal) {
    if (!slice.compact) {
      return api.contrast(wanted, layer.name, wanted.direction, wanted.x, wanted.y, wanted.contrast, slice.cell.index, signal);
    }
    const compact = api.compactReady(wanted, layer.name, wanted.direction);
    const average = averageOf(compact, wanted.direction);
    return contrast(slice.values, wanted.direction === "row" ? average : average[slice.cell.index], wanted.contrast);
  }

  // wanted: a view; exact: false only for a hover preview. → { layer, slice, scaled }
  async function render(wanted, exact, signal) {
    const layer = layersByName.get(wanted.layer);
    const slice = exact ? await exactSlice(wanted, layer, signal) : await previewSlice(wanted, layer, signal);
    let scaled;
    if (wanted.contrast !== "none") {
      scaled = scaleContrast(Float64Array.from(await contrastOf(wanted, layer, slice, signal)), wanted.contrast);
    } else {
      let sharedMax;
      if (wanted.scale === "absolute") {
        const compact = api.compactReady(wanted, layer.name, wanted.direction)
          ?? await api.compact(wanted, layer.name, wanted.direction, signal);
        sharedMax = maxOf(compact.scales);
      }
      scaled = scaleSlice(slice.values, wanted.scale, { keyCount: layer.key_grid ** 2, sharedMax });
    }
    return { layer, slice, scaled };
  }

  return { render };
}
