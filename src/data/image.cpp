#include "data/image.h"

#include <csetjmp>
#include <cstdio>
#include <cstring>

// libjpeg's header needs size_t and FILE declared first.
#include <jerror.h>
#include <jpeglib.h>
#include <png.h>

#include "core/file_util.h"
#include "core/status_macros.h"

namespace qrt {

namespace {

// The same ceiling OpenCV's imread uses (CV_IO_MAX_IMAGE_PIXELS): a corrupt or hostile header
// cannot make us allocate gigabytes.
constexpr int64_t kMaxPixels = int64_t{1} << 30;

Status checkSize(const std::string& name, int64_t width, int64_t height) {
  if (width <= 0 || height <= 0) return corrupt(name, ": image has no pixels (", width, "x", height, ")");
  if (width * height > kMaxPixels)
    return unsupported(name, ": image is ", width, "x", height, ", more than ", kMaxPixels, " pixels");
  return Status::Ok();
}

// ---------------------------------------------------------------- JPEG
//
// libjpeg reports fatal errors by calling error_exit, which must not return; we longjmp back to
// decodeJpegRaw. Only plain C data lives in that function's frame between setjmp and longjmp
// (the output vector belongs to the caller), so no C++ destructor is skipped.

struct JpegError {
  jpeg_error_mgr mgr;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

void jpegErrorExit(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<JpegError*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, err->message);
  std::longjmp(err->jump, 1);
}

// Warnings are quiet (no stderr noise from a library), except that a file ending early is an
// error: libjpeg would pad it with gray and we would silently evaluate a damaged image.
void jpegEmitMessage(j_common_ptr cinfo, int level) {
  if (level == -1 && cinfo->err->msg_code == JWRN_JPEG_EOF) jpegErrorExit(cinfo);
}

// EXIF orientation (1..8) from an APP1 "Exif" marker's TIFF block; 1 when absent or unreadable.
int exifOrientation(const uint8_t* p, size_t n) {
  if (n < 14 || std::memcmp(p, "Exif\0\0", 6) != 0) return 1;
  p += 6;
  n -= 6;
  bool little = p[0] == 'I' && p[1] == 'I';
  if (!little && !(p[0] == 'M' && p[1] == 'M')) return 1;
  auto u16 = [&](size_t o) -> uint32_t { return little ? p[o] | (p[o + 1] << 8) : (p[o] << 8) | p[o + 1]; };
  auto u32 = [&](size_t o) -> uint32_t {
    return little ? u16(o) | (u16(o + 2) << 16) : (u16(o) << 16) | u16(o + 2);
  };
  if (u16(2) != 42) return 1;
  size_t ifd = u32(4);
  if (ifd + 2 > n) return 1;
  uint32_t count = u16(ifd);
  for (uint32_t i = 0; i < count; ++i) {
    size_t e = ifd + 2 + 12 * static_cast<size_t>(i);
    if (e + 12 > n) return 1;
    // Tag 0x0112 Orientation, type 3 (SHORT), one value stored in the entry itself.
    if (u16(e) == 0x0112 && u16(e + 2) == 3) {
      uint32_t v = u16(e + 8);
      return v >= 1 && v <= 8 ? static_cast<int>(v) : 1;
    }
  }
  return 1;
}

// Turns a stored image upright according to its EXIF orientation, mapping each output pixel to
// the stored pixel it shows.
Image applyOrientation(Image src, int orientation) {
  if (orientation == 1) return src;
  const int H = src.height, W = src.width, C = src.channels;
  bool swap = orientation >= 5;  // the four transposing orientations swap width and height
  Image dst;
  dst.height = swap ? W : H;
  dst.width = swap ? H : W;
  dst.channels = C;
  dst.data.resize(src.data.size());
  for (int y = 0; y < dst.height; ++y) {
    for (int x = 0; x < dst.width; ++x) {
      int sy = 0, sx = 0;
      switch (orientation) {
        case 2: sy = y; sx = W - 1 - x; break;          // mirrored
        case 3: sy = H - 1 - y; sx = W - 1 - x; break;  // rotated 180
        case 4: sy = H - 1 - y; sx = x; break;          // flipped
        case 5: sy = x; sx = y; break;                  // transposed
        case 6: sy = H - 1 - x; sx = y; break;          // needs 90 clockwise
        case 7: sy = H - 1 - x; sx = W - 1 - y; break;  // transversed
        case 8: sy = x; sx = W - 1 - y; break;          // needs 90 counter-clockwise
        default: sy = y; sx = x; break;
      }
      std::memcpy(&dst.data[(static_cast<size_t>(y) * dst.width + x) * C],
                  &src.data[(static_cast<size_t>(sy) * W + sx) * C], C);
    }
  }
  return dst;
}

// Adobe CMYK/YCCK JPEGs store inverted ink values (255 = no ink), so the ink-free amount of each
// primary is simply value * K / 255.
void cmykRowToBgr(const uint8_t* cmyk, uint8_t* bgr, int width) {
  for (int x = 0; x < width; ++x, cmyk += 4, bgr += 3) {
    int k = cmyk[3];
    bgr[0] = static_cast<uint8_t>((cmyk[2] * k + 127) / 255);
    bgr[1] = static_cast<uint8_t>((cmyk[1] * k + 127) / 255);
    bgr[2] = static_cast<uint8_t>((cmyk[0] * k + 127) / 255);
  }
}

// Returns false with `message` filled on failure.
// `row_buffer` is owned by the caller so that a longjmp skips no destructor.
bool decodeJpegRaw(const uint8_t* data, size_t size, Image* out, std::vector<uint8_t>* row_buffer, int* orientation,
                   char* message, bool* too_large) {
  jpeg_decompress_struct cinfo;
  JpegError err;
  cinfo.err = jpeg_std_error(&err.mgr);
  err.mgr.error_exit = jpegErrorExit;
  err.mgr.emit_message = jpegEmitMessage;
  err.message[0] = '\0';
  if (setjmp(err.jump)) {
    std::memcpy(message, err.message, JMSG_LENGTH_MAX);
    jpeg_destroy_decompress(&cinfo);
    return false;
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, data, static_cast<unsigned long>(size));
  jpeg_save_markers(&cinfo, JPEG_APP0 + 1, 0xFFFF);
  jpeg_read_header(&cinfo, TRUE);
  for (jpeg_saved_marker_ptr m = cinfo.marker_list; m; m = m->next)
    if (m->marker == JPEG_APP0 + 1) {
      *orientation = exifOrientation(m->data, m->data_length);
      if (*orientation != 1) break;
    }
  bool cmyk = cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK;
  bool gray = cinfo.jpeg_color_space == JCS_GRAYSCALE;
  // libjpeg-turbo writes BGR directly; defaults otherwise (ISLOW DCT, fancy upsampling) are the
  // ones imread uses, so the pixels agree with OpenCV's bit for bit.
  cinfo.out_color_space = cmyk ? JCS_CMYK : gray ? JCS_GRAYSCALE : JCS_EXT_BGR;
  if (static_cast<int64_t>(cinfo.image_width) * cinfo.image_height > kMaxPixels) {
    *too_large = true;
    jpeg_destroy_decompress(&cinfo);
    return false;
  }
  jpeg_start_decompress(&cinfo);
  out->width = static_cast<int>(cinfo.output_width);
  out->height = static_cast<int>(cinfo.output_height);
  out->channels = gray ? 1 : 3;
  out->data.resize(static_cast<size_t>(out->width) * out->height * out->channels);
  if (cmyk) row_buffer->resize(static_cast<size_t>(out->width) * 4);
  while (cinfo.output_scanline < cinfo.output_height) {
    uint8_t* row = &out->data[static_cast<size_t>(cinfo.output_scanline) * out->width * out->channels];
    JSAMPROW rows[1] = {cmyk ? row_buffer->data() : row};
    jpeg_read_scanlines(&cinfo, rows, 1);
    if (cmyk) cmykRowToBgr(row_buffer->data(), row, out->width);
  }
  jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  return true;
}

Result<Image> decodeJpeg(const uint8_t* data, size_t size, const std::string& name) {
  Image img;
  std::vector<uint8_t> row_buffer;
  int orientation = 1;
  char message[JMSG_LENGTH_MAX];
  bool too_large = false;
  if (!decodeJpegRaw(data, size, &img, &row_buffer, &orientation, message, &too_large)) {
    if (too_large) return unsupported(name, ": JPEG is larger than ", kMaxPixels, " pixels");
    return corrupt(name, ": corrupt JPEG: ", message);
  }
  QRT_RETURN_IF_ERROR(checkSize(name, img.width, img.height));
  return applyOrientation(std::move(img), orientation);
}

// ---------------------------------------------------------------- PNG

struct PngSource {
  const uint8_t* data;
  size_t size;
  size_t pos;
  char message[256];
};

void pngRead(png_structp png, png_bytep out, png_size_t n) {
  auto* src = static_cast<PngSource*>(png_get_io_ptr(png));
  if (n > src->size - src->pos) png_error(png, "file ends early (truncated)");
  std::memcpy(out, src->data + src->pos, n);
  src->pos += n;
}

void pngError(png_structp png, png_const_charp msg) {
  auto* src = static_cast<PngSource*>(png_get_error_ptr(png));
  std::snprintf(src->message, sizeof(src->message), "%s", msg);
  png_longjmp(png, 1);
}

void pngWarning(png_structp, png_const_charp) {}

// As decodeJpegRaw: plain data only between setjmp and longjmp; `rows` belongs to the caller.
bool decodePngRaw(Image* out, std::vector<png_bytep>* rows, PngSource* src, bool* too_large) {
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, src, pngError, pngWarning);
  if (!png) {
    std::snprintf(src->message, sizeof(src->message), "out of memory");
    return false;
  }
  png_infop info = png_create_info_struct(png);
  if (!info || setjmp(png_jmpbuf(png))) {
    png_destroy_read_struct(&png, info ? &info : nullptr, nullptr);
    if (!info) std::snprintf(src->message, sizeof(src->message), "out of memory");
    return false;
  }
  png_set_read_fn(png, src, pngRead);
  png_read_info(png, info);
  png_uint_32 width = 0, height = 0;
  int depth = 0, color = 0;
  png_get_IHDR(png, info, &width, &height, &depth, &color, nullptr, nullptr, nullptr);
  if (static_cast<int64_t>(width) * height > kMaxPixels) {
    *too_large = true;
    png_destroy_read_struct(&png, &info, nullptr);
    return false;
  }
  // The transformations imread applies for IMREAD_COLOR: 8-bit samples (high byte of 16-bit
  // ones), palettes and low-depth gray expanded, alpha dropped, colour as BGR.
  if (depth == 16) png_set_strip_16(png);
  if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
  if (color == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
  if (color & PNG_COLOR_MASK_ALPHA) png_set_strip_alpha(png);
  if (color & PNG_COLOR_MASK_COLOR) png_set_bgr(png);
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  out->width = static_cast<int>(width);
  out->height = static_cast<int>(height);
  out->channels = (color & PNG_COLOR_MASK_COLOR) ? 3 : 1;
  if (png_get_rowbytes(png, info) != static_cast<size_t>(out->width) * out->channels)
    png_error(png, "unexpected row size after conversion to 8-bit");
  out->data.resize(static_cast<size_t>(out->width) * out->height * out->channels);
  rows->resize(height);
  for (png_uint_32 y = 0; y < height; ++y) (*rows)[y] = &out->data[static_cast<size_t>(y) * out->width * out->channels];
  png_read_image(png, rows->data());
  png_read_end(png, nullptr);
  png_destroy_read_struct(&png, &info, nullptr);
  return true;
}

Result<Image> decodePng(const uint8_t* data, size_t size, const std::string& name) {
  Image img;
  std::vector<png_bytep> rows;
  PngSource src{data, size, 0, {0}};
  bool too_large = false;
  if (!decodePngRaw(&img, &rows, &src, &too_large)) {
    if (too_large) return unsupported(name, ": PNG is larger than ", kMaxPixels, " pixels");
    return corrupt(name, ": corrupt PNG: ", src.message);
  }
  QRT_RETURN_IF_ERROR(checkSize(name, img.width, img.height));
  return img;
}

bool startsWith(const uint8_t* data, size_t size, const char* magic, size_t n) {
  return size >= n && std::memcmp(data, magic, n) == 0;
}

}  // namespace

Result<Image> decodeImage(const uint8_t* data, size_t size, const std::string& name) {
  if (startsWith(data, size, "\xFF\xD8\xFF", 3)) return decodeJpeg(data, size, name);
  if (startsWith(data, size, "\x89PNG\r\n\x1A\n", 8)) return decodePng(data, size, name);
  // Name the formats people most often have by mistake, so the message says what to convert.
  const char* other = startsWith(data, size, "GIF8", 4)               ? "GIF"
                      : startsWith(data, size, "BM", 2)               ? "BMP"
                      : startsWith(data, size, "II*\0", 4) ||
                              startsWith(data, size, "MM\0*", 4)      ? "TIFF"
                      : size >= 12 && startsWith(data, size, "RIFF", 4) &&
                              std::memcmp(data + 8, "WEBP", 4) == 0   ? "WebP"
                                                                      : nullptr;
  if (other) return unsupported(name, ": ", other, " images are not supported (only JPEG and PNG)");
  if (size == 0) return corrupt(name, ": empty file, not an image");
  return unsupported(name, ": not a JPEG or PNG image (unrecognized leading bytes)");
}

Result<Image> readImage(const std::string& path) {
  QRT_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, readFileBytes(path));
  return decodeImage(bytes.data(), bytes.size(), path);
}

}  // namespace qrt
