/* repack.c — Q4_0 and Q8_0 weights regrouped at load for the AMX machines'
 * kernels (GH_TYPE_Q4_0_R16, GH_TYPE_Q8_0_R16: layouts that exist only in
 * memory, never in a file).
 *
 * Why: in GGUF's row order a kernel that takes 16 weight rows at once (the
 * AMX tiles, and the VNNI kernels with one lane per weight row) must gather
 * each block's 16 scales from 16 rows and transpose the rows' codes into
 * the tile unit's order, per block and per product: a third of the AMX
 * kernel's time at N = 16. Regrouped once at load, a group's block is one
 * contiguous record already in that order.
 *
 * Layout. Rows are taken in groups of 16 (n_out a multiple of 16). Group g
 * occupies the same 16 * row_bytes bytes as rows 16g .. 16g + 15 did, as nb
 * = n_in / 32 records of 16 blocks' bytes (Q4_0 288, Q8_0 544), record i
 * holding block i of the 16 rows:
 *     bytes  0 .. 31   the 16 scales d (fp16), row n at 2n
 *     then             C chunks of 64 bytes (Q4_0 4, Q8_0 8); chunk k holds,
 *                      for row n at 32 + 64k + 4n, the row's code bytes
 *                      qs[4k .. 4k+3]
 * Q8_0: chunk k is elements 4k .. 4k+3 of each row, so the C chunks are an
 * AMX B tile in VNNI order as they stand (and the VNNI instruction's operand
 * with one 32-bit lane per weight row). Q4_0: a code byte qs[j] holds element
 * j (low nibble) and element j + 16 (high nibble), so the low nibbles of
 * chunk k are elements 4k .. 4k+3 of each row and the high ones elements
 * 16 + 4k .. 19 + 4k: the tile's rows k and k + 4. The bytes are the
 * file's, moved. */
#include "kernels/amx.h"
#include "kernels/kernels_internal.h"

#include <stdlib.h>
#include <string.h>

/* Code bytes per block of the regrouped type's base (Q4_0 16, Q8_0 32), 0 for other types. */
static int qs_bytes(gh_type base) { return base == GH_TYPE_Q4_0 ? QK4_0 / 2 : base == GH_TYPE_Q8_0 ? QK8_0 : 0; }

gh_type gh_r16_of(gh_type t) {
    return t == GH_TYPE_Q4_0 ? GH_TYPE_Q4_0_R16 : t == GH_TYPE_Q8_0 ? GH_TYPE_Q8_0_R16 : GH_TYPE_COUNT;
}
gh_type gh_r16_base(gh_type r) {
    return r == GH_TYPE_Q4_0_R16 ? GH_TYPE_Q4_0 : r == GH_TYPE_Q8_0_R16 ? GH_TYPE_Q8_0 : GH_TYPE_COUNT;
}

/* Group of 16 rows (rows, contiguous, row-major) -> its records (out). */
static void regroup(const uint8_t *rows, int64_t nb, int qb, uint8_t *out) {
    const size_t bsize = 2 + (size_t)qb, wrow = (size_t)nb * bsize, rec_bytes = 16 * bsize;
    for (int64_t i = 0; i < nb; i++) {
        uint8_t *rec = out + (size_t)i * rec_bytes;
        for (int n = 0; n < 16; n++) {
            const uint8_t *b = rows + (size_t)n * wrow + (size_t)i * bsize; /* d, then qs */
            memcpy(rec + 2 * n, b, 2);
            for (int k = 0; k < qb / 4; k++) memcpy(rec + 32 + 64 * k + 4 * n, b + 2 + 4 * k, 4);
        }
    }
}

bool gh_r16_usable(gh_type t, int64_t n_in, int64_t n_out) {
    return qs_bytes(t) && n_in > 0 && n_in % 32 == 0 && n_out > 0 && n_out % 16 == 0 && gh_kernels_use_amx();
}

int gh_r16_repack(gh_type t, void *W, int64_t n_in, int64_t n_out) {
    const int qb = qs_bytes(t);
    if (!qb || n_in <= 0 || n_in % 32 || n_out <= 0 || n_out % 16) return -1;
    const int64_t nb = n_in / 32;
    const size_t gbytes = (size_t)nb * 16 * (2 + (size_t)qb);
    uint8_t *tmp = malloc(gbytes);
    if (!tmp) return -1;
    for (int64_t g = 0; g < n_out / 16; g++) {
        uint8_t *grp = (uint8_t *)W + (size_t)g * gbytes;
        regroup(grp, nb, qb, tmp);
        memcpy(grp, tmp, gbytes);
    }
    free(tmp);
    return 0;
}

void gh_r16_row(gh_type r, const void *W, int64_t n_in, int64_t o, void *row) {
    const int qb = qs_bytes(gh_r16_base(r));
    if (!qb) return;
    const int64_t nb = n_in / 32;
    const size_t bsize = 2 + (size_t)qb, rec_bytes = 16 * bsize;
    const uint8_t *grp = (const uint8_t *)W + (size_t)(o / 16) * (size_t)nb * rec_bytes;
    const int n = (int)(o % 16);
    for (int64_t i = 0; i < nb; i++) {
        const uint8_t *rec = grp + (size_t)i * rec_bytes;
        uint8_t *b = (uint8_t *)row + (size_t)i * bsize;
        memcpy(b, rec + 2 * n, 2);
        for (int k = 0; k < qb / 4; k++) memcpy(b + 2 + 4 * k, rec + 32 + 64 * k + 4 * n, 4);
    }
}
