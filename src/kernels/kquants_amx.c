/* kquants_amx.c — Intel AMX products for Q4_K and Q6_K weights against many
 * Q8_K activation rows (batched decode, prompt processing); the K-quant
 * counterpart of kernels_amx.c (Q8_0/Q4_0), see there for why AMX.
 *
 * Same bits as the reference (types_ref.c). Per (weight row, activation row)
 * pair and super-block i in order the reference adds
 *     Q4_K: sum = sum + ((d*xd)*(float)isum - (dmin*xd)*(float)imin)
 *     Q6_K: sum = sum + (d*xd)*(float)isum
 * with isum, imin exact int32 and every float operation rounded separately
 * (-std=c11: no contraction into fma). Here the integers are computed in
 * another order (exact, so the same values) and the float steps run with one
 * 16-lane vector per weight row, lanes = the 16 activation rows of a group,
 * with the same operations in the same order.
 *
 * Integers: tile products (C 16x16 int32 += A 16 x 64 bytes . B 64 x 16)
 * over the whole super-block, with each sub-block's scale folded into the
 * weight bytes of A. Its product with a code does not fit a byte, so it is
 * split exactly into two byte matrices:
 *   Q4_K: sc = 16*sh + sl (sl 0..15, sh 0..3); A1 = sl*q <= 225 and
 *         A2 = sh*q <= 45 (u8, TDPBUSD): isum = C1 + 16*C2. The mins term
 *         imin = sum_j m_j*(bsums[2j] + bsums[2j+1]) uses x's bsums, as the
 *         reference does, on the vector unit: per weight row four VPDPWSSD
 *         of its mins as 16-bit pairs (broadcast) with the 16 activation
 *         rows' sub-block sums as 16-bit pairs (exact int32). A quantizer's
 *         sums are within +-4096; for blocks whose bsums (read as given,
 *         like the reference) give a sum past int16, the pack sets a flag
 *         and the sums are also kept as int32 for a scalar path.
 *         As tile products (bsums split into bytes) they cost two more tile
 *         stores per super-block, which hold everything else back.
 *   Q6_K: v = scales_j*(q - 32) in -4064..4096 as int16; A1 = its low byte
 *         (u8, TDPBUSD), A2 = its high byte (s8, TDPBSSD): isum = C1 + 256*C2.
 * The byte products come from VPMULLW on the codes taken two per 16-bit
 * lane (q_even + 256*q_odd times s, exact while each product stays < 256)
 * and VPMADDUBSW (Q6_K).
 *
 * Why so: on Sapphire Rapids the tile loads and stores hardly overlap with
 * other work (a 16-row TILESTORED costs about as much as 16 vector stores and
 * holds the rest back). One C tile per sub-block, combined with its scale by
 * VPMULLD, measured (per 16 x 16 pairs and super-block, 1 thread, weights in
 * cache) Q4_K ~770 and Q6_K ~1150 TSC ticks; this ~700 and ~780. What is left
 * is about half computing the A bytes, a third the tile loads and stores.
 *
 * Layout of the packed activations (gh_amx_kq_pack), per 16-row group and
 * super-block: the codes as four 16 x 64-byte B tiles in AMX's VNNI order
 * (tile row k of chunk t holds bytes 64t + 4k .. +3 of each of the 16 rows),
 * the 16 x.d, then the sub-block sums bsums[2j] + bsums[2j+1] as 16-bit
 * pairs (j = 2u, 2u + 1) in four vectors of 16 lanes. gh_amx_kq_pack
 * writes it from Q8_K rows, gh_amx_kq_pack_f32 (what gh_matmul uses when
 * every matrix is whole 16-row groups) quantizes the float rows into it.
 * Weights are read in place; for each
 * super-block the A bytes of 16 rows are computed into a small buffer.
 *
 * Pipelining: iteration i of a 16-row block computes the A bytes of
 * super-block i + 1, stores the products of i - 1 (issued one iteration
 * before, so done), combines those of i - 2 (stored one iteration before)
 * and issues the tile products of i: the tile unit multiplies while the
 * vector units work, and no load directly follows the stores it reads.
 *
 * Compiled with -mamx-tile -mamx-int8 and the AVX-512 flags (the Makefile's
 * %_amx.o rule); call only when gh_cpu_has_amx() (kernels_amx.c) is true.
 */
#define GH_AMX_KERNEL_FILE
#include "kernels/amx.h"
#include "kernels/simd_x86.h"

/* Packed activations, bytes per (group, super-block). */
#define PK_CODES 0                 /* 4 B tiles: 16 rows x 64 bytes */
#define PK_D 4096                  /* 16 x.d */
#define PK_BS (PK_D + 64)          /* sub-block sums: 4 x 16 lanes of int16 pairs */
#define PK_BS32 (PK_BS + 256)      /* the same as int32 [8][16], for blocks with PK_WIDE set */
#define PK_WIDE (PK_BS32 + 512)    /* int32: some sum does not fit int16 */
#define PK_SB (PK_WIDE + 64)

size_t gh_amx_kq_pack_size(int64_t n_in, int64_t B) {
    return (size_t)((B + 15) / 16) * (size_t)(n_in / QK_K) * PK_SB;
}

/* Row s of one (group, super-block) of the pack: codes, scale and sums of
 * one Q8_K super-block (codes: 256 bytes; sum32[j]: codes 32j .. 32j+31).
 * *wide collects whether a sum does not fit 16 bits (the kernel then reads
 * the 32-bit sums; 16-bit ones from then on are written as 0). */
static void kq_pack_row(uint8_t *p, int s, const int8_t *codes, float d, const int32_t sum32[8], int32_t *wide) {
    float *dx = (float *)(p + PK_D);
    int16_t *bs = (int16_t *)(p + PK_BS);     /* [u][s][2] */
    int32_t *bs32 = (int32_t *)(p + PK_BS32); /* [j][s] */
    /* the 64 VNNI rows of the four chunks follow each other */
    for (int k = 0; k < 64; k++) memcpy(p + PK_CODES + 64 * k + 4 * s, codes + 4 * k, 4);
    dx[s] = d;
    for (int j = 0; j < 8; j++) {
        *wide |= sum32[j] < INT16_MIN || sum32[j] > INT16_MAX;
        bs[32 * (j / 2) + 2 * s + j % 2] = (int16_t)(*wide ? 0 : sum32[j]);
        bs32[16 * j + s] = sum32[j];
    }
}

/* padding rows and zero super-blocks: all zero */
static const int8_t kq_zero_codes[QK_K];
static const int32_t kq_zero_sums[8];

void gh_amx_kq_pack(const void *xq, size_t xrow, int64_t n_in, int64_t B, void *pack, int64_t i0, int64_t i1) {
    const int64_t nsb = n_in / QK_K, G = (B + 15) / 16;
    for (int64_t g = 0; g < G; g++)
        for (int64_t i = i0; i < i1; i++) {
            uint8_t *p = (uint8_t *)pack + (size_t)(g * nsb + i) * PK_SB;
            int32_t wide = 0;
            for (int s = 0; s < 16; s++) {
                const int64_t b = g * 16 + s;
                if (b >= B) { /* padding rows */
                    kq_pack_row(p, s, kq_zero_codes, 0, kq_zero_sums, &wide);
                    continue;
                }
                const blk_q8_K *x = (const blk_q8_K *)((const char *)xq + (size_t)b * xrow) + i;
                int32_t sum32[8];
                for (int j = 0; j < 8; j++) sum32[j] = (int32_t)x->bsums[2 * j] + x->bsums[2 * j + 1];
                kq_pack_row(p, s, x->qs, x->d, sum32, &wide);
            }
            *(int32_t *)(p + PK_WIDE) = wide;
        }
}

void gh_amx_kq_pack_f32(const float *x, int64_t n_in, int64_t B, void *pack, int64_t i0, int64_t i1) {
    const int64_t nsb = n_in / QK_K, G = (B + 15) / 16;
    const __m512 absmask = _mm512_castsi512_ps(_mm512_set1_epi32(0x7fffffff));
    for (int64_t g = 0; g < G; g++)
        for (int64_t i = i0; i < i1; i++) {
            uint8_t *p = (uint8_t *)pack + (size_t)(g * nsb + i) * PK_SB;
            int32_t wide = 0; /* stays 0: |a sum of 32 codes| <= 4096 */
            for (int s = 0; s < 16; s++) {
                const int64_t b = g * 16 + s;
                const float *v = b < B ? x + (size_t)b * (size_t)n_in + (size_t)i * QK_K : NULL;
                __m512 m = _mm512_setzero_ps();
                if (v)
                    for (int k = 0; k < 16; k++) m = _mm512_max_ps(m, _mm512_and_ps(_mm512_loadu_ps(v + 16 * k), absmask));
                const float amax = v ? _mm512_reduce_max_ps(m) : 0;
                if (amax == 0) { /* padding rows and zero super-blocks: all zero, as the reference's */
                    kq_pack_row(p, s, kq_zero_codes, 0, kq_zero_sums, &wide);
                    continue;
                }
                /* the first element of that magnitude gives the sign, as in the reference */
                float max = 0;
                for (int k = 0; k < 16; k++) {
                    const __mmask16 e = _mm512_cmp_ps_mask(_mm512_and_ps(_mm512_loadu_ps(v + 16 * k), absmask),
                                                           _mm512_set1_ps(amax), _CMP_EQ_OQ);
                    if (e) {
                        max = v[16 * k + __builtin_ctz(e)];
                        break;
                    }
                }
                const float iscale = -128.0f / max;
                const __m512 is = _mm512_set1_ps(iscale);
                int8_t codes[QK_K] __attribute__((aligned(64)));
                int32_t sum32[8];
                /* codes: rounded to nearest even (MXCSR's default), held at 127
                 * and narrowed by truncation, as the reference's int8 cast: a
                 * block of tiny values has an infinite iscale, and the
                 * reference's rounding then gives code 0, as does truncating
                 * the conversion's 0x80000000 (saturating would give -128) */
                for (int j = 0; j < 8; j++) { /* 32 codes; the sums of the codes as stored */
                    const __m128i c0 = _mm512_cvtepi32_epi8(_mm512_min_epi32(
                        _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(v + 32 * j), is)), _mm512_set1_epi32(127)));
                    const __m128i c1 = _mm512_cvtepi32_epi8(_mm512_min_epi32(
                        _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(v + 32 * j + 16), is)), _mm512_set1_epi32(127)));
                    _mm_store_si128((__m128i *)(codes + 32 * j), c0);
                    _mm_store_si128((__m128i *)(codes + 32 * j + 16), c1);
                    sum32[j] = _mm512_reduce_add_epi32(_mm512_add_epi32(_mm512_cvtepi8_epi32(c0), _mm512_cvtepi8_epi32(c1)));
                }
                kq_pack_row(p, s, codes, 1.0f / iscale, sum32, &wide);
            }
            *(int32_t *)(p + PK_WIDE) = wide;
        }
}

/* Tile registers (literal numbers: the intrinsics paste them into register
 * names). */
#define TC0 0 /* C1 */
#define TC1 1 /* C2 */
#define TA0 4 /* A1 */
#define TA1 5 /* A2 */
#define TB0 6 /* B, even chunks */
#define TB1 7 /* B, odd chunks */

/* Constant memory (see gh_tile_config in amx.h). All tiles 16 rows x 64
 * bytes (C: 16 int32, A: 64 bytes of K, B: 16 x 4). */
static const gh_tile_config g_cfg = {
    .palette = 1,
    .colsb = {64, 64, 64, 64, 64, 64, 64, 64},
    .rows = {16, 16, 16, 16, 16, 16, 16, 16},
};

/* One super-block of 16 weight rows, unpacked: the A bytes, and what the
 * combine step needs. */
typedef struct {
    uint8_t a1[16][256], a2[16][256]; /* A1, A2 of 16 rows */
} sb_bytes;
typedef struct {
    float d[16], dmin[16]; /* fp16 d, dmin of the 16 rows as floats */
    int32_t mins[16][4];   /* Q4_K: row r's mins m_2u | m_2u+1 << 16 */
} sb_scales;

/* Scratch of one gh_amx_kq_matmul_rows call (~22 KiB, on its stack). For
 * super-block i: A bytes written in iteration i - 1, read in i; products
 * stored in i + 1, read in i + 2; d, dmin, mins written in i - 1, read in
 * i + 2: two, two and four slots.
 * With several 16-row activation groups (B > 16: prompts) the super-blocks
 * of a 16-row weight group are unpacked once, by the first group's pass,
 * into `cache` (nsb of each, on the heap), and the other groups read them
 * there: the unpacking is about half of a pass, and the same for every
 * group. Without the cache (B <= 16, or no memory for it) the ring slots
 * serve. */
typedef struct {
    sb_bytes a[2];
    int32_t c[2][2][16][16]; /* C tiles: c[slot][C][r][s] */
    sb_scales sc[4];
    sb_bytes *cache_a;       /* NULL, or nsb of each */
    sb_scales *cache_sc;
} __attribute__((aligned(64))) work_buf;

/* Where super-block n's unpacked bytes and scales live. */
ALWAYS_INLINE sb_bytes *slot_a(work_buf *wb, int64_t n) { return wb->cache_a ? &wb->cache_a[n] : &wb->a[n & 1]; }
ALWAYS_INLINE sb_scales *slot_sc(work_buf *wb, int64_t n) { return wb->cache_sc ? &wb->cache_sc[n] : &wb->sc[n & 3]; }


/* Prefetches super-block i of 16 rows (of the next 16 rows once i runs past
 * the row end, if there are such rows). */
ALWAYS_INLINE void prefetch_sb(const char *w, size_t wrow, int64_t i, int64_t nsb, bool more_rows, size_t bsz) {
    if (i >= nsb) {
        if (!more_rows) return;
        w += 16 * wrow;
        i -= nsb;
        if (i >= nsb) return;
    }
    _Pragma("GCC unroll 16") for (int r = 0; r < 16; r++) {
        const char *p = w + (size_t)r * wrow + (size_t)i * bsz;
        for (size_t off = 0; off < bsz; off += 64) _mm_prefetch(p + off, _MM_HINT_T0);
        _mm_prefetch(p + bsz - 1, _MM_HINT_T0);
    }
}

/* Byte-shuffle pattern giving, in each 16-bit lane of the lower 256 bits,
 * byte `lo` of the source lane (zero-extended), and byte `hi` in the upper
 * 256 bits: a 16-bit broadcast of two per-row values. */
ALWAYS_INLINE __m512i bcast16_pattern(int lo, int hi) {
    const __m256i l = _mm256_set1_epi16((short)(0x8000 | lo)), h = _mm256_set1_epi16((short)(0x8000 | hi));
    return _mm512_inserti64x4(_mm512_castsi256_si512(l), h, 1);
}

/* Q4_K super-block i of rows w .. w + 15*wrow: A1, A2 (element order), the
 * mins as 16-bit pairs, d, dmin. */
ALWAYS_INLINE void unpack_q4k(const char *w, size_t wrow, int64_t i, uint8_t a1[16][256], uint8_t a2[16][256],
                              int32_t mins[16][4], float *d, float *dmin) {
    /* scales and mins of the 16 rows at once (lanes = rows), decoded as in
     * q4k_scale_min from the packed words a, b, c (bytes 0-3, 4-7, 8-11) */
    const __m512i idx = gh_amx_row_offsets(wrow);
    const char *base = w + (size_t)i * sizeof(blk_q4_K);
    const __m512i dd = _mm512_i32gather_epi32(idx, base, 1); /* d | dmin << 16 */
    const __m512i a = _mm512_i32gather_epi32(idx, base + 4, 1);
    const __m512i b = _mm512_i32gather_epi32(idx, base + 8, 1);
    const __m512i c = _mm512_i32gather_epi32(idx, base + 12, 1);
    const __m512i m6 = _mm512_set1_epi32(0x3F3F3F3F), lo4 = _mm512_set1_epi32(0x0F0F0F0F),
                  hi2 = _mm512_set1_epi32(0x30303030), lo2 = _mm512_set1_epi32(0x03030303);
    const __m512i sc03 = _mm512_and_si512(a, m6);
    const __m512i sc47 = _mm512_or_si512(_mm512_and_si512(c, lo4), _mm512_and_si512(_mm512_srli_epi32(a, 2), hi2));
    const __m512i m03 = _mm512_and_si512(b, m6);
    const __m512i m47 =
        _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi32(c, 4), lo4), _mm512_and_si512(_mm512_srli_epi32(b, 2), hi2));
    /* per row the 8 values sl (scale & 15) and sh (scale >> 4) as one qword each */
    const __m512i lo_rows = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i hi_rows = _mm512_add_epi32(lo_rows, _mm512_set1_epi32(8));
    const __m512i sl03 = _mm512_and_si512(sc03, lo4), sl47 = _mm512_and_si512(sc47, lo4);
    const __m512i sh03 = _mm512_and_si512(_mm512_srli_epi32(sc03, 4), lo2),
                  sh47 = _mm512_and_si512(_mm512_srli_epi32(sc47, 4), lo2);
    uint64_t sl[16] __attribute__((aligned(64))), sh[16] __attribute__((aligned(64)));
    _mm512_store_si512(sl, _mm512_permutex2var_epi32(sl03, lo_rows, sl47));
    _mm512_store_si512(sl + 8, _mm512_permutex2var_epi32(sl03, hi_rows, sl47));
    _mm512_store_si512(sh, _mm512_permutex2var_epi32(sh03, lo_rows, sh47));
    _mm512_store_si512(sh + 8, _mm512_permutex2var_epi32(sh03, hi_rows, sh47));
    /* elements 64t .. 64t+63: sub-blocks 2t (low nibbles of qs[32t..]) and
     * 2t+1 (high nibbles): the 32 bytes in both halves, shifted 0 and 4 */
    const __m512i nib_shift = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(4), 1);
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    _Pragma("GCC unroll 16") for (int r = 0; r < 16; r++) {
        const blk_q4_K *bw = (const blk_q4_K *)(w + (size_t)r * wrow) + i;
        const __m512i vl = _mm512_set1_epi64((long long)sl[r]), vh = _mm512_set1_epi64((long long)sh[r]);
        _Pragma("GCC unroll 4") for (int t = 0; t < 4; t++) {
            const __m512i q2 = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(bw->qs + 32 * t)));
            const __m512i q = _mm512_and_si512(_mm512_srlv_epi16(q2, nib_shift), m4);
            const __m512i pat = bcast16_pattern(2 * t, 2 * t + 1);
            /* q_even + 256*q_odd times s: both byte products < 256 */
            _mm512_store_si512(a1[r] + 64 * t, _mm512_mullo_epi16(q, _mm512_shuffle_epi8(vl, pat)));
            _mm512_store_si512(a2[r] + 64 * t, _mm512_mullo_epi16(q, _mm512_shuffle_epi8(vh, pat)));
        }
    }
    /* mins: row r's bytes m0..m7 (dwords m03, m47 of lane r) widened to
     * 16 bits, four rows per vector */
    _Pragma("GCC unroll 2") for (int h = 0; h < 2; h++) {
        const __m512i m8 = _mm512_permutex2var_epi32(m03, h ? hi_rows : lo_rows, m47); /* rows 8h .. 8h+7 */
        _mm512_store_si512(mins[8 * h], _mm512_cvtepu8_epi16(_mm512_castsi512_si256(m8)));
        _mm512_store_si512(mins[8 * h + 4], _mm512_cvtepu8_epi16(_mm512_extracti64x4_epi64(m8, 1)));
    }
    _mm512_store_ps(d, _mm512_cvtph_ps(_mm512_cvtepi32_epi16(dd)));
    _mm512_store_ps(dmin, _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(dd, 16))));
}

/* Q6_K super-block i of 16 rows: A1, A2 = low, high byte of
 * scales_j*(q - 32) (element order), d. Within each half of 128 elements,
 * elements l, l+32, l+64, l+96 take their low 4 bits from the low nibble of
 * ql[l], ql[l+32] and the high nibble of ql[l], ql[l+32], their top 2 bits
 * from bit pairs 0-1, 2-3, 4-5, 6-7 of qh[l] (q6k_code in types_ref.c). */
ALWAYS_INLINE void unpack_q6k(const char *w, size_t wrow, int64_t i, uint8_t a1[16][256], uint8_t a2[16][256],
                              float *d) {
    const __m512i m4 = _mm512_set1_epi8(0x0F), m30 = _mm512_set1_epi8(0x30);
    const __m512i lo8 = _mm512_set1_epi16(0x00FF), hi8 = _mm512_set1_epi16((short)0xFF00);
    const __m512i k32 = _mm512_set1_epi16(32); /* bytes 32, 0: VPMADDUBSW with (s, 0) gives 32*s */
    /* per 256-bit half: elements l (shift qh left 4) and l+32 (left 2); l+64
     * (none) and l+96 (right 2); the 0x30 mask then keeps the pair wanted */
    const __m512i sh01 = _mm512_inserti64x4(_mm512_set1_epi16(4), _mm256_set1_epi16(2), 1);
    const __m512i sh23 = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(2), 1);
    _Pragma("GCC unroll 16") for (int r = 0; r < 16; r++) {
        const blk_q6_K *bw = (const blk_q6_K *)(w + (size_t)r * wrow) + i;
        __m512i q[4];
        for (int h = 0; h < 2; h++) {
            const __m512i ql = _mm512_loadu_si512(bw->ql + 64 * h);
            const __m512i qh = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(bw->qh + 32 * h)));
            const __m512i h01 = _mm512_and_si512(_mm512_sllv_epi16(qh, sh01), m30);
            const __m512i h23 = _mm512_and_si512(_mm512_srlv_epi16(qh, sh23), m30);
            /* 0xEC: (ql & m4) | h */
            q[2 * h] = _mm512_ternarylogic_epi32(ql, h01, m4, 0xEC);
            q[2 * h + 1] = _mm512_ternarylogic_epi32(_mm512_srli_epi16(ql, 4), h23, m4, 0xEC);
        }
        /* the 16 scales in every 128-bit lane; q[t] lane L is sub-block 4t + L */
        const __m512i sc = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)bw->scales));
        _Pragma("GCC unroll 4") for (int t = 0; t < 4; t++) {
            /* byte patterns (s, 0) and (0, s) per 16-bit lane, s = scale 4t + L */
            const __m512i pe = _mm512_set_epi32(
                (int)(0x80008000u | ((4 * t + 3) << 16) | (4 * t + 3)), (int)(0x80008000u | ((4 * t + 3) << 16) | (4 * t + 3)),
                (int)(0x80008000u | ((4 * t + 3) << 16) | (4 * t + 3)), (int)(0x80008000u | ((4 * t + 3) << 16) | (4 * t + 3)),
                (int)(0x80008000u | ((4 * t + 2) << 16) | (4 * t + 2)), (int)(0x80008000u | ((4 * t + 2) << 16) | (4 * t + 2)),
                (int)(0x80008000u | ((4 * t + 2) << 16) | (4 * t + 2)), (int)(0x80008000u | ((4 * t + 2) << 16) | (4 * t + 2)),
                (int)(0x80008000u | ((4 * t + 1) << 16) | (4 * t + 1)), (int)(0x80008000u | ((4 * t + 1) << 16) | (4 * t + 1)),
                (int)(0x80008000u | ((4 * t + 1) << 16) | (4 * t + 1)), (int)(0x80008000u | ((4 * t + 1) << 16) | (4 * t + 1)),
                (int)(0x80008000u | ((4 * t) << 16) | (4 * t)), (int)(0x80008000u | ((4 * t) << 16) | (4 * t)),
                (int)(0x80008000u | ((4 * t) << 16) | (4 * t)), (int)(0x80008000u | ((4 * t) << 16) | (4 * t)));
            const __m512i po = _mm512_or_si512(_mm512_slli_epi16(pe, 8), _mm512_set1_epi16(0x80));
            const __m512i se = _mm512_shuffle_epi8(sc, pe), so = _mm512_shuffle_epi8(sc, po);
            const __m512i s32 = _mm512_maddubs_epi16(k32, se);
            /* v = s*q - 32*s for the even and the odd bytes (|v| <= 4096) */
            const __m512i ve = _mm512_sub_epi16(_mm512_maddubs_epi16(q[t], se), s32);
            const __m512i vo = _mm512_sub_epi16(_mm512_maddubs_epi16(q[t], so), s32);
            /* 0xEC: (ve & lo8) | (vo << 8); 0xF8: (ve >> 8) | (vo & hi8) */
            _mm512_store_si512(a1[r] + 64 * t, _mm512_ternarylogic_epi32(ve, _mm512_slli_epi16(vo, 8), lo8, 0xEC));
            _mm512_store_si512(a2[r] + 64 * t, _mm512_ternarylogic_epi32(_mm512_srli_epi16(ve, 8), vo, hi8, 0xF8));
        }
    }
    /* d is the block's last 2 bytes: gather the word ending there */
    const __m512i dd =
        _mm512_i32gather_epi32(gh_amx_row_offsets(wrow), w + (size_t)i * sizeof(blk_q6_K) + offsetof(blk_q6_K, d) - 2, 1);
    _mm512_store_ps(d, _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(dd, 16))));
}

/* The tile products of one super-block into C registers 0-1: C1 += A1 . B
 * and C2 += A2 . B over the four 64-element chunks (A2 is s8 for Q6_K). */
#define CHUNK(t, TB)                                        \
    do {                                                    \
        _tile_loadd(TB, px + PK_CODES + 1024 * (t), 64);    \
        _tile_loadd(TA0, a1[0] + 64 * (t), 256);            \
        _tile_loadd(TA1, a2[0] + 64 * (t), 256);            \
        _tile_dpbusd(TC0, TA0, TB);                         \
        if (q6) _tile_dpbssd(TC1, TA1, TB);                 \
        else _tile_dpbusd(TC1, TA1, TB);                    \
    } while (0)

ALWAYS_INLINE void tile_products(bool q6, const uint8_t a1[16][256], const uint8_t a2[16][256], const uint8_t *px) {
    _tile_zero(TC0);
    _tile_zero(TC1);
    CHUNK(0, TB0);
    CHUNK(1, TB1);
    CHUNK(2, TB0);
    CHUNK(3, TB1);
}

/* The products' results (issued one iteration before, so done by now). */
ALWAYS_INLINE void store_products(int32_t c[2][16][16]) {
    _tile_stored(TC0, c[0], 64);
    _tile_stored(TC1, c[1], 64);
}

/* imin of one weight row (mins as in work_buf) for the 16 activation rows
 * from int32 sums [8][16]: the path for blocks with PK_WIDE set. */
static __m512i mins_wide(const int32_t mins[4], const int32_t *bs32) {
    int32_t im[16] __attribute__((aligned(64)));
    for (int s = 0; s < 16; s++) {
        int32_t t = 0;
        for (int j = 0; j < 8; j++) t += (mins[j / 2] >> (16 * (j % 2)) & 0xFFFF) * bs32[16 * j + s];
        im[s] = t;
    }
    return _mm512_load_si512(im);
}

/* acc[r] (lanes = activation rows) += row r's contribution of a super-block,
 * from its products c, in the reference's float operations. */
ALWAYS_INLINE void combine_q4k(__m512 acc[16], const int32_t c[2][16][16], const float *d, const float *dmin,
                               const int32_t mins[16][4], const uint8_t *px) {
    const __m512 xd = _mm512_loadu_ps((const float *)(px + PK_D));
    __m512i bs[4];
    _Pragma("GCC unroll 4") for (int u = 0; u < 4; u++) bs[u] = _mm512_load_si512(px + PK_BS + 64 * u);
    const int32_t wide = *(const int32_t *)(px + PK_WIDE);
    _Pragma("GCC unroll 16") for (int r = 0; r < 16; r++) {
        const __m512i is = _mm512_add_epi32(_mm512_load_si512(c[0][r]), _mm512_slli_epi32(_mm512_load_si512(c[1][r]), 4));
        __m512i im = _mm512_setzero_si512();
        _Pragma("GCC unroll 4") for (int u = 0; u < 4; u++) im = _mm512_dpwssd_epi32(im, _mm512_set1_epi32(mins[r][u]), bs[u]);
        if (__builtin_expect(wide, 0)) im = mins_wide(mins[r], (const int32_t *)(px + PK_BS32));
        const __m512 t1 = _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(d[r]), xd), _mm512_cvtepi32_ps(is));
        const __m512 t2 = _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(dmin[r]), xd), _mm512_cvtepi32_ps(im));
        acc[r] = _mm512_add_ps(acc[r], _mm512_sub_ps(t1, t2));
    }
}

ALWAYS_INLINE void combine_q6k(__m512 acc[16], const int32_t c[2][16][16], const float *d, const uint8_t *px) {
    const __m512 xd = _mm512_loadu_ps((const float *)(px + PK_D));
    _Pragma("GCC unroll 16") for (int r = 0; r < 16; r++) {
        const __m512i is = _mm512_add_epi32(_mm512_load_si512(c[0][r]), _mm512_slli_epi32(_mm512_load_si512(c[1][r]), 8));
        acc[r] = _mm512_add_ps(acc[r], _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(d[r]), xd), _mm512_cvtepi32_ps(is)));
    }
}

/* prefetch distance in super-blocks */
#ifndef KQ_PF
#define KQ_PF 2
#endif

/* Rows [o0, o1) for all groups (see "Pipelining" above). */
ALWAYS_INLINE void kq_rows(const bool q6, float *y, const uint8_t *pack, const char *W, size_t wrow, int64_t nsb,
                           int64_t n_out, int64_t B, int64_t o0, int64_t o1, work_buf *wb) {
    const int64_t G = (B + 15) / 16;
    const size_t bsz = q6 ? sizeof(blk_q6_K) : sizeof(blk_q4_K);
    float out[16][16] __attribute__((aligned(64)));
    _tile_loadconfig(&g_cfg);
    for (int64_t o = o0; o < o1; o += 16) {
        const char *w = W + (size_t)o * wrow;
        const bool more = o + 16 < o1;
        for (int64_t g = 0; g < G; g++) {
            const uint8_t *pg = pack + (size_t)(g * nsb) * PK_SB;
            __m512 acc[16];
            _Pragma("GCC unroll 16") for (int r = 0; r < 16; r++) acc[r] = _mm512_setzero_ps();
            for (int64_t i = -1; i <= nsb + 1; i++) {
                const int64_t n = i + 1; /* unpack super-block n (once, with the cache) */
                if (n < nsb && (g == 0 || !wb->cache_a)) {
                    sb_bytes *an = slot_a(wb, n);
                    sb_scales *sn = slot_sc(wb, n);
                    if (g == 0) prefetch_sb(w, wrow, n + KQ_PF, nsb, more, bsz);
                    if (q6) unpack_q6k(w, wrow, n, an->a1, an->a2, sn->d);
                    else unpack_q4k(w, wrow, n, an->a1, an->a2, sn->mins, sn->d, sn->dmin);
                }
                if (i >= 1 && i <= nsb) store_products(wb->c[(i - 1) & 1]); /* of super-block i - 1 */
                if (i >= 2) { /* combine super-block i - 2 */
                    const int64_t p = i - 2;
                    const int32_t(*c)[16][16] = (const int32_t(*)[16][16])wb->c[p & 1];
                    const sb_scales *sp = slot_sc(wb, p);
                    if (q6) combine_q6k(acc, c, sp->d, pg + (size_t)p * PK_SB);
                    else combine_q4k(acc, c, sp->d, sp->dmin, sp->mins, pg + (size_t)p * PK_SB);
                }
                if (i >= 0 && i < nsb) { /* tile products of super-block i */
                    GH_COMPILER_BARRIER();
                    const sb_bytes *ai = slot_a(wb, i);
                    tile_products(q6, ai->a1, ai->a2, pg + (size_t)i * PK_SB);
                }
            }
            /* acc[r] lane s is y[16g + s][o + r] */
            _Pragma("GCC unroll 16") for (int r = 0; r < 16; r++) _mm512_store_ps(out[r], acc[r]);
            for (int s = 0; s < 16 && g * 16 + s < B; s++)
                for (int r = 0; r < 16; r++) y[(size_t)(g * 16 + s) * (size_t)n_out + (size_t)(o + r)] = out[r][s];
        }
    }
    _tile_release();
}

static void kq_rows_q4k(float *y, const uint8_t *pack, const char *W, size_t wrow, int64_t nsb, int64_t n_out,
                        int64_t B, int64_t o0, int64_t o1, work_buf *wb) {
    kq_rows(false, y, pack, W, wrow, nsb, n_out, B, o0, o1, wb);
}

static void kq_rows_q6k(float *y, const uint8_t *pack, const char *W, size_t wrow, int64_t nsb, int64_t n_out,
                        int64_t B, int64_t o0, int64_t o1, work_buf *wb) {
    kq_rows(true, y, pack, W, wrow, nsb, n_out, B, o0, o1, wb);
}

void gh_amx_kq_matmul_rows(gh_type wtype, float *y, const void *pack, const void *W, size_t wrow, int64_t n_in,
                           int64_t n_out, int64_t B, int64_t o0, int64_t o1) {
    /* scratch on the stack of the calling thread; the cache on the heap */
    work_buf wb;
    const int64_t nsb = n_in / QK_K;
    wb.cache_a = NULL;
    wb.cache_sc = NULL;
    if (B > 16) {
        wb.cache_a = aligned_alloc(64, (size_t)nsb * sizeof(sb_bytes));
        wb.cache_sc = aligned_alloc(64, (size_t)nsb * sizeof(sb_scales));
        if (!wb.cache_a || !wb.cache_sc) { /* no memory: unpack per group, as with B <= 16 */
            free(wb.cache_a);
            free(wb.cache_sc);
            wb.cache_a = NULL;
            wb.cache_sc = NULL;
        }
    }
    if (wtype == GH_TYPE_Q4_K) kq_rows_q4k(y, pack, W, wrow, n_in / QK_K, n_out, B, o0, o1, &wb);
    else if (wtype == GH_TYPE_Q6_K) kq_rows_q6k(y, pack, W, wrow, n_in / QK_K, n_out, B, o0, o1, &wb);
    free(wb.cache_a);
    free(wb.cache_sc);
}
