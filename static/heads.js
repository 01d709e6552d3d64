// Attention heads on the page. A layer of /api/models has `heads`; its maps are (heads, N, M). The
// view's `head` is "mean" (the mean over heads, the default) or an index; a map request for a layer
// carries `head` only when that layer has that head, so comparing layers never asks for a head a
// layer lacks. The picker lists the heads of the chosen layer and is disabled for a one-head layer.

export const MEAN = "mean";

const headCounts = new Map(); // layer name → heads

export function rememberLayers(layers) {
  for (const layer of layers) headCounts.set(layer.name, layer.heads ?? 1);
}

export function headCount(layerName) {
  return headCounts.get(layerName) ?? 1;
}

// A head as the URL gives it → "mean" or an index valid for `layerName`, else "mean".
export function headFor(layerName, head) {
  const index = Number.parseInt(head, 10);
  const count = headCounts.get(layerName) ?? 1;
  return String(index) === String(head) && index >= 0 && index < count && count > 1 ? String(index) : MEAN;
}

// The `head` query parameter for a request of `layerName` ({} for the mean).
export function headQuery(layerName, head) {
  const chosen = headFor(layerName, head);
  return chosen === MEAN ? {} : { head: chosen };
}

export function fillHeadPicker(select, layerName, head) {
  const count = headCounts.get(layerName) ?? 1;
  const wanted = [MEAN, ...Array.from({ length: count > 1 ? count : 0 }, (_, i) => String(i))];
  if ([...select.options].map((option) => option.value).join() !== wanted.join()) {
    select.replaceChildren(...wanted.map((value) => new Option(value === MEAN ? "mean of heads" : `head ${value}`, value)));
  }
  select.value = headFor(layerName, head);
  select.disabled = count <= 1;
}
