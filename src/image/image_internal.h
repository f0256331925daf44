/* image_internal.h: what the image decoders share among themselves (not part of the public API):
 * the per-format decoders, the header size check, pixel-row conversions and EXIF handling. */
#ifndef OM_IMAGE_INTERNAL_H
#define OM_IMAGE_INTERNAL_H

#include "image/image.h"

/* Per-format decoders: fill *out (px allocated with om_image_alloc) or return an error. */
int om_decode_jpeg(const uint8_t *buf, size_t len, const om_decode_opts *o, om_image *out, char *err);
int om_decode_png(const uint8_t *buf, size_t len, const om_decode_opts *o, om_image *out, char *err);
/* Netpbm P1..P6 (decode_pnm.c). */
int om_decode_pnm(const uint8_t *buf, size_t len, const om_decode_opts *o, om_image *out, char *err);
int om_decode_stb(const uint8_t *buf, size_t len, const om_decode_opts *o, const char *format,
                  om_image *out, char *err);

/* Refuses zero or over-limit dimensions (from the file header, before any pixel is decoded). */
int om_image_check_dims(const char *format, uint64_t w, uint64_t h, const om_decode_opts *o,
                        char *err);
/* Allocates img->px for w x h x c (overflow-checked) and sets w, h, c. */
int om_image_alloc(om_image *img, int w, int h, int c, char *err);

/* Converts n pixels of in_c interleaved channels (1 L, 2 LA, 3 RGB, 4 RGBA) to out_c (1 or 3) the
 * way Pillow's convert("L") / convert("RGB") does; alpha is dropped or composited per opts. */
void om_px_convert_row(const uint8_t *in, int in_c, uint8_t *out, int out_c, size_t n,
                       const om_decode_opts *o);
/* Pillow's ITU-R 601-2 luma: L = (R*19595 + G*38470 + B*7471 + 0x8000) >> 16. */
static inline uint8_t om_px_luma(unsigned r, unsigned g, unsigned b) {
  return (uint8_t)((r * 19595u + g * 38470u + b * 7471u + 0x8000u) >> 16);
}

/* EXIF: the orientation (1..8) in an APP1 "Exif\0\0" payload; 1 when absent or malformed. */
int om_exif_orientation(const uint8_t *app1, size_t len);
/* Rotates/flips img in place (new buffer) so it displays upright for the given orientation. */
int om_image_orient(om_image *img, int orientation, char *err);

/* Pillow-exact resampling (libImaging/Resample.c for BILINEAR/BICUBIC, the nearest-neighbour
 * affine scale for NEAREST) of src (w x h, c channels) to rw x rh, computing only the output window
 * [x0,x1) x [y0,y1) into dst ((y1-y0) rows of (x1-x0)*c bytes). `scratch` must hold
 * om_resample_scratch_size(...) bytes (0 on overflow). */
size_t om_resample_scratch_size(int w, int h, int c, int rw, int rh, int interp, int x0, int y0,
                                int x1, int y1);
void om_resample_window(const uint8_t *src, int w, int h, int c, int rw, int rh, int interp, int x0,
                        int y0, int x1, int y1, uint8_t *dst, void *scratch);
/* The same with the vector paths chosen by the caller: simd 0 keeps every pass scalar (tests compare
 * the two), 1 uses the AVX-512BW horizontal pass for RGB, which the CPU must run. */
void om_resample_window_path(const uint8_t *src, int w, int h, int c, int rw, int rh, int interp,
                             int x0, int y0, int x1, int y1, uint8_t *dst, void *scratch, int simd);

#endif
