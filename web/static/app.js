// Vraagbaak's only script of its own (no inline scripts: the Content-Security-Policy forbids them).
// Areas add small, separate behaviours below; everything works without JavaScript too.
"use strict";
