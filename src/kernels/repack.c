/* repack.c — Q4_0 weights regrouped at load for the AMX machines' kernels
 * (GH_TYPE_Q4_0_R16, a layout that exists only in memory, never in a file).
 *
 * Why: in GGUF's row order a kernel that takes 16 weight rows at once (the
 * AMX tiles, and the VNNI kernel with one lane per weight row) must gather
 * each block's 16 scales from 16 rows and transpose the rows' codes into
 * the tile unit's order, per block and per product: a third of the AMX
 * kernel's time at N = 16. Regrouped once at load, a group's block is one
 * contiguous 288-byte record already in that order.
 *
 * Layout. Rows are taken in groups of 16 (n_out a multiple of 16). Group g
 * occupies the same 16 * row_bytes bytes as rows 16g .. 16g + 15 did, as nb
 * = n_in / 32 records of 288 bytes, record i holding block i of the 16 rows:
 *     bytes   0 ..  31   the 16 scales d (fp16), row n at 2n
 *     bytes  32 .. 287   4 chunks of 64 bytes; chunk k holds, for row n at
 *                        32 + 64k + 4n, the row's code bytes qs[4k .. 4k+3]
 * A code byte qs[j] holds element j (low nibble) and element j + 16 (high
 * nibble), so the low nibbles of chunk k are elements 4k .. 4k+3 of each row
 * and the high ones elements 16 + 4k .. 19 + 4k: exactly the rows k and
 * k + 4 of an AMX B tile in VNNI order (and the VNNI instruction's operand
 * with one 32-bit lane per weight row). The bytes are the file's, moved. */
#include "kernels/amx.h"
#include "kernels/kernels_internal.h"

#include <stdlib.h>
#include <string.h>

#define R16_REC (16 * sizeof(blk_q4_0)) /* 288 bytes: one block of 16 rows */

/* Group g of 16 rows (rows, contiguous, row-major) -> its records (out). */
static void regroup(const uint8_t *rows, int64_t nb, uint8_t *out) {
    const size_t wrow = (size_t)nb * sizeof(blk_q4_0);
    for (int64_t i = 0; i < nb; i++) {
        uint8_t *rec = out + (size_t)i * R16_REC;
        for (int n = 0; n < 16; n++) {
            const blk_q4_0 *b = (const blk_q4_0 *)(rows + (size_t)n * wrow) + i;
            memcpy(rec + 2 * n, &b->d, 2);
            for (int k = 0; k < 4; k++) memcpy(rec + 32 + 64 * k + 4 * n, b->qs + 4 * k, 4);
        }
    }
}

bool gh_q4_0_r16_usable(int64_t n_in, int64_t n_out) {
    return n_in > 0 && n_in % QK4_0 == 0 && n_out > 0 && n_out % 16 == 0 && gh_kernels_use_amx();
}

int gh_q4_0_r16_repack(void *W, int64_t n_in, int64_t n_out) {
    if (n_in <= 0 || n_in % QK4_0 || n_out <= 0 || n_out % 16) return -1;
    const int64_t nb = n_in / QK4_0;
    const size_t gbytes = (size_t)nb * R16_REC;
    uint8_t *tmp = malloc(gbytes);
    if (!tmp) return -1;
    for (int64_t g = 0; g < n_out / 16; g++) {
        uint8_t *grp = (uint8_t *)W + (size_t)g * gbytes;
        regroup(grp, nb, tmp);
        memcpy(grp, tmp, gbytes);
    }
    free(tmp);
    return 0;
}

void gh_q4_0_r16_row(const void *W, int64_t n_in, int64_t o, void *row) {
    const int64_t nb = n_in / QK4_0;
    const uint8_t *grp = (const uint8_t *)W + (size_t)(o / 16) * (size_t)nb * R16_REC;
    const int n = (int)(o % 16);
    for (int64_t i = 0; i < nb; i++) {
        const uint8_t *rec = grp + (size_t)i * R16_REC;
        blk_q4_0 *b = (blk_q4_0 *)row + i;
        memcpy(&b->d, rec + 2 * n, 2);
        for (int k = 0; k < 4; k++) memcpy(b->qs + 4 * k, rec + 32 + 64 * k + 4 * n, 4);
    }
}
