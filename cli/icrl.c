/* icrl.c — placeholder: being written. */
#include <stdio.h>

#include "cli.h"

int cmd_icrl(int argc, char **argv) {
    (void)argc; (void)argv;
    fprintf(stderr, "goodhart icrl: not built yet\n");
    return 2;
}
