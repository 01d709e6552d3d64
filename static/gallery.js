// The gallery: a paged grid of sample thumbnails of the view's class and truncation, filled only while it
// is open and again when the class or truncation changes; a click opens a seed.

const PAGE_SIZE = 12;
const THUMBNAIL_SIZE = 64;

export function buildGallery(ui, api, state, open) {
  let page = Math.floor(state.seed / PAGE_SIZE);

  let shown = null; // the page, class and truncation the thumbnails show

  function fill() {
    if (!ui.gallery.open) return;
    shown = `${page}|${state.cls}|${state.truncation}`;
    ui["gallery-page"].textContent = `seeds ${page * PAGE_SIZE}–${page * PAGE_SIZE + PAGE_SIZE - 1}`;
    ui["gallery-prev"].disabled = page === 0;
    ui["gallery-grid"].replaceChildren(...Array.from({ length: PAGE_SIZE }, (_, i) => {
      const seed = page * PAGE_SIZE + i;
      const button = document.createElement("button");
      button.type = "button";
      button.dataset.seed = seed;
      button.setAttribute("aria-label", `open seed ${seed}`);
      const image = new Image(THUMBNAIL_SIZE, THUMBNAIL_SIZE);
      image.alt = "";
      image.loading = "lazy";
      image.src = api.thumbnailUrl({ ...state, seed }, THUMBNAIL_SIZE);
      const label = document.createElement("span");
      label.textContent = String(seed);
      button.append(image, label);
      button.addEventListener("click", () => open(seed));
      return button;
    }));
  }

  ui.gallery.addEventListener("toggle", fill);
  ui["gallery-prev"].addEventListener("click", () => { page = Math.max(0, page - 1); fill(); });
  ui["gallery-next"].addEventListener("click", () => { page += 1; fill(); });
  // A new seed of the same class and truncation leaves the thumbnails as they are.
  return { refill: () => { if (shown !== `${page}|${state.cls}|${state.truncation}`) fill(); } };
}
