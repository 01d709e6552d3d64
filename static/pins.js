// Pinned queries: their colours and the small multiples that show their maps.

export const PIN_COLOURS = ["#ff4d6d", "#ffd166", "#06d6a0", "#4cc9f0", "#b388ff", "#ff9f1c", "#f15bb5", "#9ef01a", "#ffffff", "#00bbf9"];

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
