// "What attention adds": per layer, the sample with that layer's γ = 0, its per-pixel difference from
// the real sample, and ‖γ·o‖ / ‖x‖ on the query grid. Fetched only while the panel is open; a sample or
// colormap change aborts what is in flight and clears the panel, and every element carries the seed
// it shows (data-seed), filled in only once its own sample's data arrived.

import { formatValue, paintCanvas } from "./draw.js";
import { sampleKey } from "./network.js";
import { classLabel } from "./state.js";

function maxOf(values) {
  let peak = 0;
  for (const v of values) if (v > peak) peak = v;
  return peak;
}

function element(tag, properties = {}, attributes = {}) {
  const node = Object.assign(document.createElement(tag), properties);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  return node;
}

// One layer's figures, empty until its data arrive.
function layerSection(layer, seed, imageSize) {
  const heading = element("h2", { textContent: `${layer.name} · γ ${layer.gamma.toFixed(4)}` });
  const ablation = element("img", { className: "adds-ablation", width: imageSize, height: imageSize,
    alt: `seed ${seed} regenerated with ${layer.name}'s γ = 0` });
  const difference = element("img", { className: "adds-difference", width: imageSize, height: imageSize,
    alt: `per-pixel difference between seed ${seed} and its ${layer.name} γ = 0 version` });
  const differenceText = element("span", { className: "adds-difference-text", textContent: "…" });
  const effect = element("canvas", { className: "adds-effect", width: 1, height: 1 },
    { role: "img", "aria-label": `‖γ·o‖/‖x‖ of ${layer.name} on its ${layer.query_grid}×${layer.query_grid} query grid, seed ${seed}` });
  const effectText = element("span", { className: "adds-effect-text", textContent: "…" });
  const figure = (content, caption) => {
    const node = element("figure");
    const text = element("figcaption");
    text.append(...caption);
    node.append(content, text);
    return node;
  };
  const section = element("section", { className: "adds-layer" }, { "aria-label": `what ${layer.name} adds` });
  section.dataset.layer = layer.name;
  section.append(
    heading,
    figure(ablation, [`${layer.name} γ = 0`]),
    figure(difference, ["|sample − γ = 0|: ", differenceText]),
    figure(effect, [`‖γ·o‖/‖x‖ (${layer.query_grid}×${layer.query_grid}): `, effectText]),
  );
  return { section, heading, ablation, difference, differenceText, effect, effectText };
}

function showEffectMean(heading, layer, mean, over) {
  heading.textContent = `${layer.name} · γ ${layer.gamma.toFixed(4)} · mean ‖γ·o‖/‖x‖ over ${over}: ${formatValue(mean)}`;
  heading.dataset.effectMean = mean;
}

export function buildAttentionAdds(ui, api, colormaps, model, current) {
  let controller = new AbortController();
  let shownKey = null;
  let blobUrls = [];
  let effectMeans = null;  // measured by the server on first request (16 forward passes), then kept

  // Independent of the figures: a failure leaves the headings without a mean and the panel as it is.
  async function fillEffectMeans(sections, signal) {
    effectMeans ??= api.effectMeans().catch(() => {
      effectMeans = null;
      return null;
    });
    const means = await effectMeans;
    if (!means || signal.aborted) return;
    const over = means.class == null ? "seeds 0–15" : `seeds 0–15 of class ${classLabel(means.class, model.classes)}`;
    for (const { layer, parts } of sections) showEffectMean(parts.heading, layer, means.layers[layer.name], over);
  }

  function clear() {
    controller.abort();
    controller = new AbortController();
    shownKey = null;
    for (const url of blobUrls) URL.revokeObjectURL(url);
    blobUrls = [];
    ui["adds-layers"].replaceChildren();
    ui["adds-layers"].dataset.seed = "";
    ui["adds-status"].textContent = "";
  }

  function showBlob(image, blob, seed) {
    const url = URL.createObjectURL(blob);
    blobUrls.push(url);
    image.src = url;
    image.dataset.seed = seed;
  }

  async function fillLayer(layer, parts, state, colormap, signal) {
    const [ablated, difference, effect, lut] = await Promise.all([
      api.ablation(state, layer.name, signal),
      api.difference(state, layer.name, colormap, signal),
      api.effect(state, layer.name, signal),
      colormaps.lut(colormap),
    ]);
    if (signal.aborted) return;
    showBlob(parts.ablation, ablated, state.seed);
    showBlob(parts.difference, difference.blob, state.seed);
    parts.differenceText.textContent = `max ${formatValue(difference.max)}, mean ${formatValue(difference.mean)}`;
    Object.assign(parts.difference.dataset, { max: difference.max, mean: difference.mean });
    const peak = maxOf(effect.values);
    paintCanvas(parts.effect, effect.values.map((v) => (peak > 0 ? v / peak : 0)), effect.query_grid, lut);
    parts.effectText.textContent = `max ${formatValue(peak)}, mean ${formatValue(effect.mean)}`;
    Object.assign(parts.effect.dataset, { seed: state.seed, max: peak, mean: effect.mean, colormap });
    parts.section.dataset.seed = state.seed;
  }

  async function refresh() {
    const state = current();
    const key = `${sampleKey(state)}/${state.colormap}`;
    if (key === shownKey) return;
    clear();
    if (!ui.adds.open) return;
    shownKey = key;
    const { signal } = controller;
    const seed = state.seed;
    // Only a layer with a γ can be regenerated with γ = 0.
    const sections = model.layers
      .filter((layer) => layer.gamma !== null)
      .map((layer) => ({ layer, parts: layerSection(layer, seed, model.image_size) }));
    ui["adds-layers"].replaceChildren(...sections.map(({ parts }) => parts.section));
    ui["adds-status"].textContent = `Regenerating seed ${seed} without each layer's attention…`;
    try {
      const figures = Promise.all(sections.map(({ layer, parts }) => fillLayer(layer, parts, state, state.colormap, signal)));
      fillEffectMeans(sections, signal);  // asked after the figures, so the generation thread makes those first
      await figures;
      if (signal.aborted) return;
      ui["adds-layers"].dataset.seed = seed;
      ui["adds-status"].textContent = "";
    } catch (error) {
      if (error.name === "AbortError" || signal.aborted) return;
      shownKey = null;
      ui["adds-status"].textContent = `Could not load what attention adds: ${error.message}`;
    }
  }

  ui.adds.addEventListener("toggle", refresh);
  return { refresh };
}
