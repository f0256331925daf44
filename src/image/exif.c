/* exif.c: the EXIF orientation tag (a bounds-checked read of the TIFF structure in a JPEG APP1
 * segment) and the rotation/flip that makes an image display upright. */
#include "image/image_internal.h"

#include <stdlib.h>
#include <string.h>

static unsigned rd16(const uint8_t *p, int be) {
  return be ? (unsigned)(p[0] << 8 | p[1]) : (unsigned)(p[1] << 8 | p[0]);
}
static uint32_t rd32(const uint8_t *p, int be) {
  return be ? ((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3])
            : ((uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0]);
}

int om_exif_orientation(const uint8_t *app1, size_t len) {
  if (!app1 || len < 6 + 8 || memcmp(app1, "Exif\0\0", 6) != 0) return 1;
  const uint8_t *t = app1 + 6; /* TIFF header: offsets below are relative to it */
  size_t n = len - 6;
  int be;
  if (t[0] == 'I' && t[1] == 'I') be = 0;
  else if (t[0] == 'M' && t[1] == 'M') be = 1;
  else return 1;
  if (rd16(t + 2, be) != 42) return 1;
  uint32_t ifd = rd32(t + 4, be);
  if (ifd < 8 || ifd > n || n - ifd < 2) return 1;
  unsigned count = rd16(t + ifd, be);
  size_t pos = (size_t)ifd + 2;
  for (unsigned i = 0; i < count; i++, pos += 12) {
    if (pos > n || n - pos < 12) return 1;
    const uint8_t *e = t + pos;
    if (rd16(e, be) != 0x0112) continue;
    unsigned type = rd16(e + 2, be);
    uint32_t cnt = rd32(e + 4, be);
    unsigned v;
    if (type == 3 && cnt >= 1) v = rd16(e + 8, be);      /* SHORT, the normal case */
    else if (type == 4 && cnt >= 1) v = rd32(e + 8, be); /* LONG, seen in the wild */
    else return 1;
    return (v >= 1 && v <= 8) ? (int)v : 1;
  }
  return 1;
}

int om_image_orient(om_image *img, int orientation, char *err) {
  if (orientation <= 1 || orientation > 8) return OM_OK;
  const int w = img->w, h = img->h, c = img->c;
  const int swap = orientation >= 5;
  const int ow = swap ? h : w, oh = swap ? w : h;
  om_image tmp = {0};
  int rc = om_image_alloc(&tmp, ow, oh, c, err);
  if (rc != OM_OK) return rc;
  for (int y = 0; y < oh; y++) {
    for (int x = 0; x < ow; x++) {
      int sx, sy; /* source pixel of output (x, y) */
      switch (orientation) {
      case 2: sx = w - 1 - x; sy = y; break;         /* mirror horizontal */
      case 3: sx = w - 1 - x; sy = h - 1 - y; break; /* rotate 180 */
      case 4: sx = x; sy = h - 1 - y; break;         /* mirror vertical */
      case 5: sx = y; sy = x; break;                 /* transpose */
      case 6: sx = y; sy = h - 1 - x; break;         /* rotate 90 clockwise */
      case 7: sx = w - 1 - y; sy = h - 1 - x; break; /* transverse */
      default: sx = w - 1 - y; sy = x; break;        /* 8: rotate 90 counter-clockwise */
      }
      memcpy(tmp.px + ((size_t)y * ow + x) * c, img->px + ((size_t)sy * w + sx) * c, (size_t)c);
    }
  }
  free(img->px);
  img->px = tmp.px;
  img->w = ow;
  img->h = oh;
  return OM_OK;
}
