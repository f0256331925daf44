/* fuzz_image.c: libFuzzer entry for image decoding + torchvision preprocessing: any bytes must give
 * either a decoded image that preprocesses cleanly or an error message, never a crash or leak.
 * Decodes with a 4-megapixel limit (RGB and gray alternately, EXIF applied, DCT scaling on some). */
#include "image/image.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static om_preproc_scratch scr;
  static float out[3 * 224 * 224];
  char err[OM_ERR_LEN];
  om_decode_opts o;
  om_decode_opts_default(&o);
  o.max_pixels = 4u * 1000 * 1000;
  uint8_t sel = size ? data[size - 1] : 0; /* option bits from the tail byte (part of the file too) */
  o.channels = (sel & 1) ? 1 : 3;
  o.apply_exif = (sel >> 1) & 1;
  o.composite_alpha = (sel >> 2) & 1;
  if ((sel >> 3) & 1) o.jpeg_min_w = o.jpeg_min_h = 64;
  om_image img;
  if (om_image_decode(data, size, &o, &img, err) != OM_OK) {
    if (!err[0]) abort(); /* every failure must say why */
    return 0;
  }
  if (img.w <= 0 || img.h <= 0 || !img.px || img.c != o.channels) abort();
  om_preproc pp;
  om_preproc_preset("torchvision", &pp, err);
  err[0] = 0;
  if (om_preprocess(&img, &pp, out, &scr, err) != OM_OK && !err[0]) abort();
  om_image_free(&img);
  return 0;
}
