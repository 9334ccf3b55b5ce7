/* bon.c — `goodhart bon`: the Best-of-N family. Dispatches to
 *   bon run     the experiment (bon_run.c): sample, score, select, report
 *   bon select  one rule over precomputed candidates (bon_select.c)
 *   bon bench   time of the selection step against generation (bon_bench.c)
 * `goodhart bon [options]` without a verb is `bon run`. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static void usage(FILE *f) {
    fprintf(f, "usage: goodhart bon run [options]      sample N, score, select by every rule, report\n"
               "       goodhart bon select --in FILE --rule RULE --beta B [--reward NAME] [--seed S]\n"
               "       goodhart bon bench [-m MODEL]    time the selection step against generation\n"
               "(goodhart bon VERB --help for the options of each)\n");
}

int cmd_bon(int argc, char **argv) {
    if (argc < 2) { usage(stderr); return 2; }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) { usage(stdout); return 0; }
    if (!strcmp(argv[1], "run")) return cmd_bon_run(argc - 1, argv + 1);
    if (!strcmp(argv[1], "select")) return cmd_bon_select(argc - 1, argv + 1);
    if (!strcmp(argv[1], "bench")) return cmd_bon_bench(argc - 1, argv + 1);
    if (argv[1][0] == '-') return cmd_bon_run(argc, argv);
    fprintf(stderr, "goodhart bon: unknown verb '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
