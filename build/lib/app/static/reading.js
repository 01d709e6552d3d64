// Reading one slice of an attention map, mirroring models/reading.py (formulas in its module doc).
// A row lies on the key grid and sums to 1; a column lies on the query grid and need not. M is the
// number of key cells for rows and columns alike.

export const LOG_DECADES = 4;

export const SCALE_LABELS = {
  relative: "attention weight (0 to this map's maximum)",
  absolute: "attention weight (shared range)",
  uniform: "attention / uniform (v·M)",
  log: "log10(attention / uniform)",
};

export const CONTRAST_FORMULAS = {
  ratio: "A / ā: the slice over the sample's average row ā (āⱼ = mean over queries of Aᵢⱼ); 1 = as much as the average query",
  difference: "A − ā: the slice minus the sample's average row ā (āⱼ = mean over queries of Aᵢⱼ); 0 = as much as the average query",
};

function display(quantity, low, high) {
  const out = new Float32Array(quantity.length);
  if (!(high > low)) return out;
  for (let i = 0; i < quantity.length; i++) out[i] = Math.min(1, Math.max(0, (quantity[i] - low) / (high - low)));
  return out;
}

function maxOf(values) {
  let peak = -Infinity;
  for (const v of values) if (v > peak) peak = v;
  return peak;
}

// A slice on one scale → { quantity, display (0..1), low, high, label }.
export function scaleSlice(values, scale, { keyCount, sharedMax } = {}) {
  let quantity = Float64Array.from(values);
  let low = 0;
  let high;
  if (scale === "relative") {
    high = maxOf(quantity);
  } else if (scale === "absolute") {
    high = sharedMax;
  } else {
    quantity = quantity.map((v) => v * keyCount);
    if (scale === "uniform") {
      high = maxOf(quantity);
    } else {
      quantity = quantity.map((v) => Math.log10(v));
      const peak = maxOf(quantity);
      high = Number.isFinite(peak) ? peak : 0;
      low = high - LOG_DECADES;
    }
  }
  return { quantity, display: display(quantity, low, high), low, high, label: SCALE_LABELS[scale] };
}

// A contrast slice (ratio or difference) for display: ratio on [0, max], difference on [−a, a].
export function scaleContrast(quantity, mode) {
  let low = 0;
  let high = maxOf(quantity);
  if (mode === "difference") {
    high = Math.max(...Array.from(quantity, Math.abs));
    low = -high;
  }
  return { quantity, display: display(quantity, low, high), low, high, label: mode === "ratio" ? "A / ā" : "A − ā" };
}

// Indices sorted by value, largest first; ties by index (stable sort).
function ranked(values) {
  return Array.from(values.keys()).sort((a, b) => values[b] - values[a] || a - b);
}

// The smallest set of cells holding percent % of the mass → Uint8Array mask (1 = in the set).
export function topMassMask(values, percent) {
  const order = ranked(values);
  let total = 0;
  for (const v of values) total += v;
  const mask = new Uint8Array(values.length);
  let before = 0;
  for (const [rank, index] of order.entries()) {
    if (rank > 0 && !(before < (percent / 100) * total)) break;
    mask[index] = 1;
    before += values[index];
  }
  return mask;
}

// The boundary of a (side × side) mask as segments [x0, y0, x1, y1] in cell units.
export function maskOutline(mask, side) {
  const inside = (row, col) => row >= 0 && col >= 0 && row < side && col < side && mask[row * side + col] === 1;
  const segments = [];
  for (let row = 0; row < side; row++) {
    for (let col = 0; col < side; col++) {
      if (!inside(row, col)) continue;
      if (!inside(row - 1, col)) segments.push([col, row, col + 1, row]);
      if (!inside(row + 1, col)) segments.push([col, row + 1, col + 1, row + 1]);
      if (!inside(row, col - 1)) segments.push([col, row, col, row + 1]);
      if (!inside(row, col + 1)) segments.push([col + 1, row, col + 1, row + 1]);
    }
  }
  return segments;
}

// The k largest cells of a slice on a side × side grid, largest first.
export function topCells(values, k, side, imageSize) {
  const perCell = imageSize / side;
  return ranked(values).slice(0, k).map((index, i) => {
    const row = Math.floor(index / side);
    const col = index % side;
    return { rank: i + 1, index, row, col, value: values[index], pixels: [col * perCell, row * perCell, (col + 1) * perCell, (row + 1) * perCell] };
  });
}

// ā from the compact slices (see network.js): for rows, the mean of the K = N rows (M values);
// for columns, each column's own mean over its N entries (M values, one per key).
export function averageRow(compact, direction) {
  const { scales, quantised, count, length } = compact;
  if (direction === "row") {
    const average = new Float64Array(length);
    for (let k = 0; k < count; k++) {
      const factor = scales[k] / 255 / count;
      for (let j = 0; j < length; j++) average[j] += quantised[k * length + j] * factor;
    }
    return average;
  }
  const average = new Float64Array(count);
  for (let k = 0; k < count; k++) {
    let total = 0;
    for (let j = 0; j < length; j++) total += quantised[k * length + j];
    average[k] = (total * scales[k]) / 255 / length;
  }
  return average;
}

// values / average (1 where average = 0) or values − average; `average` is an array or one number.
export function contrast(values, average, mode) {
  const at = (i) => (typeof average === "number" ? average : average[i]);
  return Float64Array.from(values, (v, i) => {
    if (mode === "difference") return v - at(i);
    return at(i) > 0 ? v / at(i) : 1;
  });
}
