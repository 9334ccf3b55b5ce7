/* bon_bench.c — placeholder while `goodhart bon bench` is being written. */
#include <stdio.h>
#include "cli.h"
int cmd_bon_bench(int argc, char **argv) { (void)argc; (void)argv; fprintf(stderr, "goodhart bon bench: not built yet\n"); return 1; }
