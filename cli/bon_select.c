/* bon_select.c — placeholder while `goodhart bon select` is being written. */
#include <stdio.h>
#include "cli.h"
int cmd_bon_select(int argc, char **argv) { (void)argc; (void)argv; fprintf(stderr, "goodhart bon select: not built yet\n"); return 1; }
