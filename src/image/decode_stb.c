/* decode_stb.c: BMP, GIF first frame, TGA, PSD, HDR tonemapped to 8 bits and PIC through
 * stb_image, and JPEG/PNG too when force_stb is set (for comparisons). This is the one file that
 * compiles stb_image's implementation. force_stb is for comparisons on trusted files: stb's JPEG
 * decoder reads out of bounds on some corrupt Huffman tables. PNM is ours (decode_pnm.c).
 *
 * Truncation: stb reads past the end of a memory buffer as zeros (raw TGA rows it leaves
 * uninitialised) and reports success; we catch every such read (stb_load_checked) and refuse the
 * file. */
#include "image/image_internal.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define STB_IMAGE_IMPLEMENTATION
#define STBI_NO_STDIO
#define STBI_NO_PNM /* decode_pnm.c; stb's header reader also overflows on long numbers */
#define STBI_FAILURE_USERMSG
#include <stb/stb_image.h>

/* Truncation check. stb reads the file straight from memory, as stbi_load_from_memory does, but its
 * context also carries io callbacks, which stb calls only once that buffer is used up: through
 * stbi__refill_buffer when the decoder wants one more byte (stb then hands it a 0, and zeros from
 * there on), through stbi__getn when it wants a block. Either call means the decoder asked for data
 * the file does not have. stbi_load_from_callbacks would see the same, but it copies every file
 * through a 128-byte block with a call per block: 1-3% more instructions on BMP, TGA and GIF,
 * 5-15% more time on RLE TGA and PSD; only HDR takes that road (see stb_read). A skip past the end
 * is not missing data by itself: a BMP's last row may lack its padding, which Pillow accepts too;
 * the next read is caught. */
typedef struct {
  size_t len, pos;   /* what the callbacks have handed out: all of it when stb reads from memory */
  const uint8_t *buf;
  const void *block; /* stb's 128-byte block, where stbi__refill_buffer reads to */
  int overrun;       /* the decoder asked for bytes past the end of the file */
  int hdr;           /* past the end, serve 0xFF instead of zeros */
} stb_reader;

static int stb_read(void *user, char *data, int size) {
  stb_reader *r = user;
  if (!r->block) r->block = data; /* the first read is stbi__start_callbacks' refill */
  size_t left = r->len - r->pos, n = size > 0 ? (size_t)size : 0;
  if (n > left) {
    /* A refill asks for a whole block, so a short one is normal; an empty one is not. */
    if (left == 0 || data != r->block) r->overrun = 1;
    /* After an empty refill stb serves zeros forever, and a zero count makes no progress in its
     * HDR run-length loop: a truncated RLE HDR never finished. So HDR gets 0xFF, one byte per
     * refill (stb's end-of-data tests then still see the end): each run covers 127 pixels or is
     * refused as too long, and the result is discarded. Refills after the end are why HDR reads
     * through stbi_load_from_callbacks: its bookkeeping assumes the block is the buffer. */
    if (left == 0 && r->hdr && data == r->block) {
      data[0] = (char)0xff;
      return 1;
    }
    n = left;
  }
  memcpy(data, r->buf + r->pos, n);
  r->pos += n;
  return (int)n;
}

static void stb_skip(void *user, int n) {
  stb_reader *r = user;
  size_t left = r->len - r->pos;
  if (n > 0) r->pos += (size_t)n < left ? (size_t)n : left; /* stb only skips forward */
}

static int stb_eof(void *user) {
  stb_reader *r = user;
  return r->pos >= r->len;
}

/* stbi_load_from_memory with the callbacks above. It uses stb internals (stbi__context,
 * stbi__start_mem, stbi__load_and_postprocess_8bit); this file compiles the implementation, so a
 * change in them fails to build rather than going unnoticed, and test_image checks the
 * behaviour. */
static stbi_uc *stb_load_checked(const uint8_t *buf, int len, int req_comp, stb_reader *rd, int *w,
                                 int *h, int *comp) {
  stbi_io_callbacks io = {stb_read, stb_skip, stb_eof};
  rd->buf = buf;
  rd->len = (size_t)len;
  if (rd->hdr) return stbi_load_from_callbacks(&io, rd, w, h, comp, req_comp);
  stbi__context s;
  stbi__start_mem(&s, buf, len);
  s.io = io;
  s.io_user_data = rd;
  s.read_from_callbacks = 1;
  s.buflen = (int)sizeof s.buffer_start;
  rd->pos = rd->len; /* stb has it all */
  rd->block = s.buffer_start;
  return stbi__load_and_postprocess_8bit(&s, w, h, comp, req_comp);
}

int om_decode_stb(const uint8_t *buf, size_t len, const om_decode_opts *o, const char *format,
                  om_image *out, char *err) {
  if (len > INT_MAX)
    return om_seterr(err, OM_E_LIMIT, "%s: file of %zu bytes too large for stb_image",
                     format ? format : "image", len);
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
  stb_reader rd = {0};
  rd.hdr = strcmp(format, "hdr") == 0;
  /* PIC: stb's loader converts its RGBA result to the file's channel count even after a failed
   * decode, dereferencing NULL (any truncated RGB PIC crashed the process); asking for RGBA skips
   * that conversion. The alpha it then adds is 255, dropped or composited away below. */
  int req = strcmp(format, "pic") == 0 ? 4 : 0;
  stbi_uc *px = stb_load_checked(buf, (int)len, req, &rd, &w2, &h2, &comp);
  /* PIC tests for the end itself before each read ("file too short"): the same error. */
  if (!px && strstr(stbi_failure_reason(), "too short")) rd.overrun = 1;
  if (rd.overrun) {
    stbi_image_free(px);
    return om_seterr(err, OM_E_FORMAT, "%s: truncated file (data ends early)", format);
  }
  if (!px) return om_seterr(err, OM_E_FORMAT, "%s: %s", format, stbi_failure_reason());
  if (req) comp = req;
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
