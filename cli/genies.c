/* genies.c — placeholder: being written. */
#include <stdio.h>

#include "cli.h"

int cmd_genies(int argc, char **argv) {
    (void)argc; (void)argv;
    fprintf(stderr, "goodhart genies: not built yet\n");
    return 2;
}
