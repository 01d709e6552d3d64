// Pixel ↔ cell geometry, mirroring models/geometry.py. A layer on a G×G grid under an S×S image
// covers S/G pixels per cell; pixel (x, y) is cell row = ⌊y·G/S⌋, col = ⌊x·G/S⌋, index row·G + col.
// Rows ("where this pixel looks") lie on the key grid; columns ("what looks at this pixel") on the
// query grid.

export function pixelsPerCell(imageSize, grid) {
  return imageSize / grid;
}

export function pixelToCell(x, y, imageSize, grid) {
  const row = Math.floor((y * grid) / imageSize);
  const col = Math.floor((x * grid) / imageSize);
  return { row, col, index: row * grid + col, grid };
}

// The grid a direction's clicked cell lives on: the query grid for a row, the key grid for a column.
export function markerGrid(layer, direction) {
  return direction === "row" ? layer.query_grid : layer.key_grid;
}

// The clicked cell of a pixel for a direction: on the query grid for a row, the key grid for a column.
export function clickedCell(layer, direction, x, y, imageSize) {
  return pixelToCell(x, y, imageSize, markerGrid(layer, direction));
}

// One slice of the compact form (see network.js): the query's row (on the key grid) or the key's
// column (on the query grid) as 8-bit values q with its scale; a value is q·scale/255.
export function compactSlice(compact, layer, direction, x, y, imageSize) {
  const cell = clickedCell(layer, direction, x, y, imageSize);
  const values = compact.quantised.subarray(cell.index * compact.length, (cell.index + 1) * compact.length);
  const side = direction === "row" ? layer.key_grid : layer.query_grid;
  return { values, scale: compact.scales[cell.index], side, cell };
}

// A pointer position inside an element's box → the output pixel under it, clamped to the image.
export function pixelAt(clientX, clientY, box, imageSize) {
  const x = Math.floor(((clientX - box.left) / box.width) * imageSize);
  const y = Math.floor(((clientY - box.top) / box.height) * imageSize);
  return { x: Math.min(imageSize - 1, Math.max(0, x)), y: Math.min(imageSize - 1, Math.max(0, y)) };
}
