/* serve.c — placeholder: being written. */
#include <stdio.h>

#include "cli.h"

int cmd_serve(int argc, char **argv) {
    (void)argc; (void)argv;
    fprintf(stderr, "goodhart serve: not built yet\n");
    return 2;
}
