import io

import httpx
import numpy as np

base = "http://127.0.0.1:8000/api/models/emoji_sagan/samples/7"
row = httpx.get(f"{base}/attention", params={"x": 20, "y": 41}).json()  # where (20, 41) looks
matrix = np.load(io.BytesIO(httpx.get(f"{base}/attention.npy", params={"layer": "attn1"}).content))
print(row["cell"], len(row["values"]), matrix.shape)
