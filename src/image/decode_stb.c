/* decode_stb.c: every other format (BMP, GIF first frame, TGA, PSD, HDR tonemapped to 8 bits,
 * PNM, PIC) through stb_image, and JPEG/PNG too when force_stb is set (for comparisons). This is
 * the one file that compiles stb_image's implementation. force_stb is for comparisons on trusted
 * files: stb's JPEG decoder reads out of bounds on some corrupt Huffman tables. */
#include "image/image_internal.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define STB_IMAGE_IMPLEMENTATION
#define STBI_NO_STDIO
#define STBI_FAILURE_USERMSG
#include <stb/stb_image.h>

/* stb's PNM header reader accumulates digits in an int with no bound (signed overflow, UB, on
 * "P6 99999999999 ..."; found by fuzz_image): refuse header numbers longer than 9 digits first.
 * Same token rules as stb: whitespace and '#' comments to the end of the line. */
static int pnm_header_ok(const uint8_t *b, size_t len) {
  size_t i = 2;
  for (int field = 0; field < 3; field++) {
    for (;;) {
      while (i < len && (b[i] == ' ' || (b[i] >= '\t' && b[i] <= '\r'))) i++;
      if (i < len && b[i] == '#') {
        while (i < len && b[i] != '\n' && b[i] != '\r') i++;
        continue;
      }
      break;
    }
    size_t digits = 0;
    while (i < len && b[i] >= '0' && b[i] <= '9') i++, digits++;
    if (digits > 9) return 0;
    if (digits == 0) return 1; /* stb reports the malformed header itself */
  }
  return 1;
}

int om_decode_stb(const uint8_t *buf, size_t len, const om_decode_opts *o, const char *format,
                  om_image *out, char *err) {
  if (len > INT_MAX)
    return om_seterr(err, OM_E_LIMIT, "%s: file of %zu bytes too large for stb_image",
                     format ? format : "image", len);
  if (format && strcmp(format, "pnm") == 0 && !pnm_header_ok(buf, len))
    return om_seterr(err, OM_E_FORMAT, "pnm: header number with more than 9 digits");
  int w = 0, h = 0, comp = 0;
  if (!stbi_info_from_memory(buf, (int)len, &w, &h, &comp)) {
    if (!format) return OM_E_UNSUPPORTED; /* caller words it as "not an image" */
    return om_seterr(err, OM_E_FORMAT, "%s: %s", format, stbi_failure_reason());
  }
  if (!format) format = "tga"; /* the only format stb accepts without magic bytes */
  out->format = format;
  out->src_w = w;
  out->src_h = h;
  out->exif_orientation = 1;
  int rc = om_image_check_dims(format, (uint64_t)(w < 0 ? 0 : w), (uint64_t)(h < 0 ? 0 : h), o, err);
  if (rc != OM_OK) return rc;
  int w2 = 0, h2 = 0;
  stbi_uc *px = stbi_load_from_memory(buf, (int)len, &w2, &h2, &comp, 0);
  if (!px) return om_seterr(err, OM_E_FORMAT, "%s: %s", format, stbi_failure_reason());
  if (w2 != w || h2 != h || comp < 1 || comp > 4) {
    stbi_image_free(px);
    return om_seterr(err, OM_E_FORMAT, "%s: decoded size %dx%d differs from header %dx%d", format,
                     w2, h2, w, h);
  }
  rc = om_image_alloc(out, w, h, o->channels, err);
  if (rc == OM_OK) {
    for (int y = 0; y < h; y++)
      om_px_convert_row(px + (size_t)y * (size_t)w * (size_t)comp, comp,
                        out->px + (size_t)y * (size_t)w * (size_t)o->channels, o->channels,
                        (size_t)w, o);
  }
  stbi_image_free(px);
  return rc;
}
