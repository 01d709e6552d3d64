"""A paper-style figure: a sample, then where four of its pixels look, each with its query marked."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.patches import Rectangle

from models.notebook import open_model

model = open_model()  # the default served model; or open_model("path/to/model.pt" or a BigGAN-deep folder)
sample = model.sample(7)  # class 0 of a conditional model; model.sample(7, "Flags"), BigGAN-deep: (7, "goldfish", truncation=0.5)
points = [(20, 41), (44, 20), (32, 32), (10, 10)]  # output pixels (x, y)
colours = ["tab:red", "tab:orange", "tab:cyan", "tab:pink"]

figure, axes = plt.subplots(1, len(points) + 1, figsize=(2.2 * (len(points) + 1), 2.4))
axes[0].imshow(sample.image, interpolation="nearest")
axes[0].set_title(f"seed {sample.seed}")
for axis, (x, y), colour in zip(axes[1:], points, colours):
    looks = sample.row(x, y)  # (key_grid, key_grid), sums to 1
    cell = looks.cell  # the query cell of (x, y), on the query grid
    size = model.image_size / cell.grid
    axes[0].add_patch(Rectangle((cell.col * size, cell.row * size), size, size, fill=False, color=colour, lw=2))
    axis.imshow(looks.values, cmap="viridis", extent=(0, model.image_size, model.image_size, 0))
    axis.add_patch(Rectangle((cell.col * size, cell.row * size), size, size, fill=False, color=colour, lw=2))
    axis.set_title(f"({x}, {y}) · {looks.layer.name}")
for axis in axes:
    axis.set_axis_off()
figure.tight_layout()
figure.savefig("attention_figure.png", dpi=150)
