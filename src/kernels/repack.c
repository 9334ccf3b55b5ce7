/* repack.c — weights regrouped at load for the kernels: Q4_0 and Q8_0 for
 * the AMX machines' (GH_TYPE_Q4_0_R16, GH_TYPE_Q8_0_R16), F16 for the
 * AVX-512 row-pair tiles (GH_TYPE_F16_R2); layouts that exist only in
 * memory, never in a file.
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
 * file's, moved.
 *
 * F16 (GH_TYPE_F16_R2): the row-pair tile (kernels_avx512.c) converts 8
 * elements of rows 2q and 2q + 1 into one 16-lane register; from the rows as
 * they lie that takes two 16-byte loads and an insert, one uop in 11 of an
 * N = 16 step. Rows are taken in pairs, pair q in the bytes rows 2q and
 * 2q + 1 had, as n_in / 8 steps of 32 bytes: elements 8s .. 8s+7 of row 2q,
 * then the same of row 2q + 1. */
#include "kernels/amx.h"
#include "kernels/kernels_internal.h"

#include <stdlib.h>
#include <string.h>

/* Code bytes per block of the regrouped type's base (Q4_0 16, Q8_0 32), 0 for other types. */
static int qs_bytes(gh_type base) { return base == GH_TYPE_Q4_0 ? QK4_0 / 2 : base == GH_TYPE_Q8_0 ? QK8_0 : 0; }

gh_type gh_regrouped_of(gh_type t) {
    return t == GH_TYPE_Q4_0 ? GH_TYPE_Q4_0_R16
           : t == GH_TYPE_Q8_0 ? GH_TYPE_Q8_0_R16
           : t == GH_TYPE_F16  ? GH_TYPE_F16_R2
                               : GH_TYPE_COUNT;
}
gh_type gh_regrouped_base(gh_type r) {
    return r == GH_TYPE_Q4_0_R16 ? GH_TYPE_Q4_0
           : r == GH_TYPE_Q8_0_R16 ? GH_TYPE_Q8_0
           : r == GH_TYPE_F16_R2   ? GH_TYPE_F16
                                   : GH_TYPE_COUNT;
}

/* ---- F16 row pairs ---- */
static bool f16_pairs_fit(int64_t n_in, int64_t n_out) {
    return n_in > 0 && n_in % 8 == 0 && n_out > 0 && n_out % 2 == 0;
}

static int f16_regroup(uint16_t *W, int64_t n_in, int64_t n_out) {
    if (!f16_pairs_fit(n_in, n_out)) return -1;
    uint16_t *tmp = malloc((size_t)n_in * 2 * sizeof *tmp);
    if (!tmp) return -1;
    for (int64_t q = 0; q < n_out / 2; q++) {
        uint16_t *pair = W + (size_t)q * 2 * (size_t)n_in; /* rows 2q, 2q + 1 */
        for (int64_t s = 0; s < n_in / 8; s++) {
            memcpy(tmp + 16 * s, pair + 8 * s, 16);
            memcpy(tmp + 16 * s + 8, pair + n_in + 8 * s, 16);
        }
        memcpy(pair, tmp, (size_t)n_in * 2 * sizeof *tmp);
    }
    free(tmp);
    return 0;
}

static void f16_regrouped_row(const uint16_t *W, int64_t n_in, int64_t o, uint16_t *row) {
    const uint16_t *pair = W + (size_t)(o / 2) * 2 * (size_t)n_in;
    for (int64_t s = 0; s < n_in / 8; s++) memcpy(row + 8 * s, pair + 16 * s + 8 * (o % 2), 16);
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

bool gh_regroup_usable(gh_type t, int64_t n_in, int64_t n_out) {
    if (t == GH_TYPE_F16) return f16_pairs_fit(n_in, n_out) && gh_kernels_use_avx512();
    return qs_bytes(t) && n_in > 0 && n_in % 32 == 0 && n_out > 0 && n_out % 16 == 0 && gh_kernels_use_amx();
}

int gh_regroup(gh_type t, void *W, int64_t n_in, int64_t n_out) {
    if (t == GH_TYPE_F16) return f16_regroup(W, n_in, n_out);
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

void gh_regrouped_row(gh_type r, const void *W, int64_t n_in, int64_t o, void *row) {
    if (r == GH_TYPE_F16_R2) {
        f16_regrouped_row(W, n_in, o, row);
        return;
    }
    const int qb = qs_bytes(gh_regrouped_base(r));
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
