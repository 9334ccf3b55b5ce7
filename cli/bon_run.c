/* bon_run.c — placeholder while `goodhart bon run` is being written. */
#include <stdio.h>
#include "cli.h"
int cmd_bon_run(int argc, char **argv) { (void)argc; (void)argv; fprintf(stderr, "goodhart bon run: not built yet\n"); return 1; }
