// Entry point of the explorer page: the one module that acts when loaded.

import { start } from "./main.js";

start(document.getElementById("explorer"));
