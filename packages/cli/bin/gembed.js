#!/usr/bin/env node
// The command's entry in the repository, so npm links `gembed` at install time, before the build
// has written dist/ (a bin that does not exist yet is not linked).
import "../dist/main.js";
