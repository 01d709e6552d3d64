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

// One query's row (on the key grid) or one key's column (on the query grid) of an (N, M) matrix.
export function attentionSlice(matrix, layer, direction, x, y, imageSize) {
  const n = layer.query_grid * layer.query_grid;
  const m = layer.key_grid * layer.key_grid;
  const cell = pixelToCell(x, y, imageSize, markerGrid(layer, direction));
  if (direction === "row") {
    return { values: matrix.subarray(cell.index * m, (cell.index + 1) * m), side: layer.key_grid, cell };
  }
  const values = new Float32Array(n);
  for (let i = 0; i < n; i++) values[i] = matrix[i * m + cell.index];
  return { values, side: layer.query_grid, cell };
}

// A pointer position inside an element's box → the output pixel under it, clamped to the image.
export function pixelAt(clientX, clientY, box, imageSize) {
  const x = Math.floor(((clientX - box.left) / box.width) * imageSize);
  const y = Math.floor(((clientY - box.top) / box.height) * imageSize);
  return { x: Math.min(imageSize - 1, Math.max(0, x)), y: Math.min(imageSize - 1, Math.max(0, y)) };
}
