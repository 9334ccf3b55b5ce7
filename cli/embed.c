/* embed.c — placeholder: being written. */
#include <stdio.h>

#include "cli.h"

int cmd_embed(int argc, char **argv) {
    (void)argc; (void)argv;
    fprintf(stderr, "goodhart embed: not built yet\n");
    return 2;
}
