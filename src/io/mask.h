/* mask.h: segmentation masks (--mask-dir): per-pixel argmax of an N x C x H x W result, resized
 * back to the input image's size (nearest) and written as an 8-bit palette PNG (libpng), atomically.
 *
 * Palette: the PASCAL VOC colour map, 256 entries, by its bit-interleaving formula: start with
 * c = class, R = G = B = 0; for j = 0..7: R |= (c & 1) << (7-j), G |= ((c >> 1) & 1) << (7-j),
 * B |= ((c >> 2) & 1) << (7-j), c >>= 3. Class 0 is black, 1 (128,0,0), 2 (0,128,0),
 * 3 (128,128,0), 4 (0,0,128)... The pixel values are the class indices, so a reader that ignores
 * the palette still gets the classes.
 *
 * Nearest resize (Pillow's NEAREST): destination pixel x takes source x' = floor((x + 0.5) * sw / dw),
 * clamped to sw - 1; likewise for rows.
 *
 * File names: DIR/<input path>.png where, in the input path as given, '%' is written "%25" and '/'
 * "%2F" (so "a/b.jpg" -> "a%2Fb.jpg.png", "/x/y.png" -> "%2Fx%2Fy.png.png"): one flat directory,
 * an injective mapping (distinct paths never collide); a name over 255 bytes is refused. The same
 * path given twice writes the same file twice (identical content). Written to a temporary
 * "DIR/.<name>.tmp.<pid>.<n>" then renamed. */
#ifndef OM_MASK_H
#define OM_MASK_H

#include <stddef.h>
#include <stdint.h>

#include "common/om.h"

/* Argmax over C (1..256) of logits [C][H][W] per pixel into cls[H*W]; ties and NaN go to the lower
 * class (a NaN never wins). */
int om_mask_argmax(const float *logits, int C, int H, int W, uint8_t *cls, char *err);
/* Nearest resize as described above; dst has dw*dh bytes. */
void om_mask_resize_nearest(const uint8_t *src, int sw, int sh, uint8_t *dst, int dw, int dh);
/* The VOC colour map, pal[3*c + 0..2] = R, G, B. */
void om_mask_voc_palette(uint8_t pal[768]);
/* DIR/<encoded path>.png (malloc'd into *out). */
int om_mask_path(const char *dir, const char *input, char **out, char *err);
/* Writes idx (w*h class bytes) as a palette PNG at path, atomically. */
int om_mask_write_png(const char *path, const uint8_t *idx, int w, int h, char *err);
/* The whole step for one input: argmax of logits [C][H][W], resize to out_w x out_h, write the PNG
 * named after input in dir. */
int om_mask_write(const char *dir, const char *input, const float *logits, int C, int H, int W,
                  int out_w, int out_h, char *err);

#endif
