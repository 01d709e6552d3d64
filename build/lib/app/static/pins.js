// Pinned queries: their colours and the small multiples that show their maps.

// The same colours, in the same order, as the exported figure (app/figure.py: matplotlib's tab10), so pin k looks alike in both.
export const PIN_COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];

export function pinColour(index) {
  return PIN_COLOURS[index % PIN_COLOURS.length];
}

// One small multiple: a figure with a labelled canvas and, for a pin, a remove button.
export function panelElement(panel, onRemove) {
  const figure = document.createElement("figure");
  figure.className = "panel";
  figure.style.setProperty("--pin", panel.colour);
  const canvas = document.createElement("canvas");
  canvas.width = 1;
  canvas.height = 1;
  canvas.setAttribute("role", "img");
  canvas.setAttribute("aria-label", panel.label);
  Object.assign(canvas.dataset, { x: panel.x, y: panel.y, layer: panel.layer, kind: panel.kind });
  const caption = document.createElement("figcaption");
  caption.textContent = panel.label;
  figure.append(canvas, caption);
  if (onRemove) {
    const remove = document.createElement("button");
    remove.type = "button";
    remove.textContent = "×";
    remove.setAttribute("aria-label", `remove pin ${panel.label}`);
    remove.addEventListener("click", onRemove);
    caption.append(" ", remove);
  }
  return { figure, canvas };
}

export function pinMarker(pin, colour, imageSize) {
  const marker = document.createElement("div");
  marker.className = "pin-marker";
  marker.style.left = `${((pin.x + 0.5) / imageSize) * 100}%`;
  marker.style.top = `${((pin.y + 0.5) / imageSize) * 100}%`;
  marker.style.setProperty("--pin", colour);
  return marker;
}
