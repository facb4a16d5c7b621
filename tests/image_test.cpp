// Image decoding (JPEG, PNG) against OpenCV's cv2.imread on real photos from Debian's opencv-doc,
// corrupt-file handling, and image folders / the batch loader.
//
// Expected pixels come from Debian's python3-opencv: the test writes a small Python script into
// a temporary folder, runs it with /usr/bin/python3, and reads back the .npy files it saved.
// Without python3-opencv or opencv-doc the OpenCV comparisons are skipped.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "data/image.h"
#include "data/image_folder.h"
#include "data/tensor_file.h"
#include "test_util.h"

namespace qrt {
namespace {

namespace fs = std::filesystem;

constexpr const char* kPhotos = "/usr/share/doc/opencv-doc/examples/data";

void writeBytes(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary);
  f << bytes;
}

std::string readBytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

// Writes the files under test and cv2.imread's view of each as <name>.npy.
const char* kScript = R"PY(
import sys, os, struct
import numpy as np, cv2
data, out = sys.argv[1], sys.argv[2]
def save(name, path):
    img = cv2.imread(path)  # IMREAD_COLOR: BGR, EXIF orientation applied
    np.save(os.path.join(out, name + ".npy"), img)
photos = {"baboon": "baboon.jpg", "fruits": "fruits.jpg", "pic1": "pic1.png", "cards_rgba": "cards.png",
          "box_gray": "box.png", "mask_gray_alpha": "mask.png", "text_palette": "imageTextN.png"}
for name, f in photos.items():
    save(name, os.path.join(data, f))
# Made here: a grayscale JPEG, 16-bit PNGs (colour and gray), EXIF-rotated JPEGs.
src = cv2.imread(os.path.join(data, "fruits.jpg"))
gray = cv2.cvtColor(src, cv2.COLOR_BGR2GRAY)
cv2.imwrite(os.path.join(out, "gray.jpg"), gray); save("gray_jpeg", os.path.join(out, "gray.jpg"))
cv2.imwrite(os.path.join(out, "deep.png"), src[:120, :90].astype(np.uint16) * 257 + np.arange(90, dtype=np.uint16)[None, :, None])
save("deep_png", os.path.join(out, "deep.png"))
cv2.imwrite(os.path.join(out, "deep_gray.png"), gray[:50, :70].astype(np.uint16) * 256 + 200)
save("deep_gray_png", os.path.join(out, "deep_gray.png"))
small = cv2.imencode(".jpg", src[:64, :48])[1].tobytes()
for o in range(1, 9):
    tiff = b"MM\x00\x2a" + struct.pack(">I", 8) + struct.pack(">H", 1) + \
           struct.pack(">HHIHH", 0x0112, 3, 1, o, 0) + struct.pack(">I", 0)
    app1 = b"Exif\x00\x00" + tiff
    jpg = small[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + small[2:]
    path = os.path.join(out, "orient%d.jpg" % o)
    open(path, "wb").write(jpg)
    save("orient%d" % o, path)
try:  # a CMYK JPEG (Adobe, inverted), as Pillow writes it
    from PIL import Image
    Image.open(os.path.join(data, "fruits.jpg")).convert("CMYK").save(os.path.join(out, "cmyk.jpg"), quality=95)
    save("cmyk", os.path.join(out, "cmyk.jpg"))
except ImportError:
    pass
)PY";

class OpenCvImages : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!fs::exists(kPhotos) || !fs::exists("/usr/bin/python3")) return;
    dir_ = test::makeTempDir("image_test");
    writeBytes(dir_ + "/expected.py", kScript);
    std::string cmd = "/usr/bin/python3 " + dir_ + "/expected.py " + kPhotos + " " + dir_ + " > " + dir_ +
                      "/python.log 2>&1";
    ready_ = std::system(cmd.c_str()) == 0;
    if (!ready_) std::fprintf(stderr, "python3-opencv unavailable:\n%s\n", readBytes(dir_ + "/python.log").c_str());
  }
  void SetUp() override {
    if (!ready_) GTEST_SKIP() << "needs /usr/bin/python3 with cv2 and " << kPhotos;
  }

  // Decodes `path` and compares with cv2.imread's array saved as `name`.npy (gray images are
  // compared with imread's replicated channels).
  static void expectSameAsOpenCv(const std::string& path, const std::string& name, int channels,
                                 int tolerance = 0) {
    auto img = readImage(path);
    ASSERT_TRUE(img.ok()) << img.status().message();
    auto expected = readNpy(dir_ + "/" + name + ".npy");
    ASSERT_TRUE(expected.ok()) << expected.status().message();
    const Dims& d = expected->dims();
    ASSERT_EQ(d.size(), 3u);
    ASSERT_EQ(img->height, d[0]) << name;
    ASSERT_EQ(img->width, d[1]) << name;
    EXPECT_EQ(img->channels, channels) << name;
    const uint8_t* e = expected->as<uint8_t>();
    int64_t mismatches = 0;
    for (int y = 0; y < img->height; ++y)
      for (int x = 0; x < img->width; ++x)
        for (int c = 0; c < 3; ++c)
          mismatches += std::abs(img->at(y, x, img->channels == 1 ? 0 : c) - e[(y * d[1] + x) * 3 + c]) > tolerance;
    EXPECT_EQ(mismatches, 0) << name << ": pixels differing from cv2.imread by more than " << tolerance;
  }

  static std::string dir_;
  static bool ready_;
};
std::string OpenCvImages::dir_;
bool OpenCvImages::ready_ = false;

TEST_F(OpenCvImages, ColorJpegMatchesImread) {
  expectSameAsOpenCv(std::string(kPhotos) + "/baboon.jpg", "baboon", 3);
  expectSameAsOpenCv(std::string(kPhotos) + "/fruits.jpg", "fruits", 3);
}

TEST_F(OpenCvImages, GrayJpegStaysOneChannel) { expectSameAsOpenCv(dir_ + "/gray.jpg", "gray_jpeg", 1); }

TEST_F(OpenCvImages, PngKindsMatchImread) {
  expectSameAsOpenCv(std::string(kPhotos) + "/pic1.png", "pic1", 3);                   // RGB
  expectSameAsOpenCv(std::string(kPhotos) + "/cards.png", "cards_rgba", 3);            // RGBA
  expectSameAsOpenCv(std::string(kPhotos) + "/box.png", "box_gray", 1);                // gray
  expectSameAsOpenCv(std::string(kPhotos) + "/mask.png", "mask_gray_alpha", 1);       // gray + alpha
  expectSameAsOpenCv(std::string(kPhotos) + "/imageTextN.png", "text_palette", 3);     // palette
  expectSameAsOpenCv(dir_ + "/deep.png", "deep_png", 3);                               // 16-bit colour
  expectSameAsOpenCv(dir_ + "/deep_gray.png", "deep_gray_png", 1);                     // 16-bit gray
}

TEST_F(OpenCvImages, ExifOrientationIsApplied) {
  for (int o = 1; o <= 8; ++o) {
    SCOPED_TRACE(o);
    expectSameAsOpenCv(dir_ + "/orient" + std::to_string(o) + ".jpg", "orient" + std::to_string(o), 3);
  }
}

// Ink values convert as value * K / 255 here; imread's integer shortcut can land one level higher.
TEST_F(OpenCvImages, CmykJpegWithinOneLevel) {
  if (!fs::exists(dir_ + "/cmyk.npy")) GTEST_SKIP() << "needs python3-pil to write a CMYK JPEG";
  expectSameAsOpenCv(dir_ + "/cmyk.jpg", "cmyk", 3, 1);
}

TEST_F(OpenCvImages, FormatComesFromBytesNotExtension) {
  std::string png_named_jpg = dir_ + "/really_a_png.jpg";
  fs::copy_file(std::string(kPhotos) + "/pic1.png", png_named_jpg, fs::copy_options::overwrite_existing);
  expectSameAsOpenCv(png_named_jpg, "pic1", 3);
}

// ---------------------------------------------------------------- broken files

class BrokenImages : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = test::makeTempDir("broken_images"); }
  std::string dir_;

  // The error for `bytes` saved as `name`: not ok, and the message names the file.
  Status errorFor(const std::string& name, const std::string& bytes) {
    std::string path = dir_ + "/" + name;
    writeBytes(path, bytes);
    auto img = readImage(path);
    EXPECT_FALSE(img.ok()) << name;
    if (img.ok()) return Status::Ok();
    EXPECT_NE(img.status().message().find(path), std::string::npos) << img.status().message();
    return img.status();
  }
};

TEST_F(BrokenImages, TruncatedJpegIsAnError) {
  std::string jpg = readBytes(std::string(kPhotos) + "/baboon.jpg");
  if (jpg.empty()) GTEST_SKIP() << "needs opencv-doc";
  Status s = errorFor("half.jpg", jpg.substr(0, jpg.size() / 2));
  EXPECT_EQ(s.code(), StatusCode::kCorrupt);
  EXPECT_NE(s.message().find("JPEG"), std::string::npos) << s.message();
  // Only the header: libjpeg fails before any scanline.
  EXPECT_EQ(errorFor("header.jpg", jpg.substr(0, 200)).code(), StatusCode::kCorrupt);
}

TEST_F(BrokenImages, GarbageAfterJpegMagicIsAnError) {
  std::string bytes = "\xFF\xD8\xFF";
  for (int i = 0; i < 500; ++i) bytes.push_back(static_cast<char>(i * 37));
  EXPECT_EQ(errorFor("garbage.jpg", bytes).code(), StatusCode::kCorrupt);
}

TEST_F(BrokenImages, TruncatedAndDamagedPngAreErrors) {
  std::string png = readBytes(std::string(kPhotos) + "/pic1.png");
  if (png.empty()) GTEST_SKIP() << "needs opencv-doc";
  Status s = errorFor("half.png", png.substr(0, png.size() / 2));
  EXPECT_EQ(s.code(), StatusCode::kCorrupt);
  EXPECT_NE(s.message().find("PNG"), std::string::npos) << s.message();
  std::string damaged = png;
  for (size_t i = png.size() / 2; i < png.size() / 2 + 40; ++i) damaged[i] = static_cast<char>(~damaged[i]);  // IDAT
  EXPECT_EQ(errorFor("damaged.png", damaged).code(), StatusCode::kCorrupt);
}

TEST_F(BrokenImages, UnknownFormatsAreNamed) {
  Status gif = errorFor("anim.png", "GIF89a\x01\x00\x01\x00");
  EXPECT_EQ(gif.code(), StatusCode::kUnsupported);
  EXPECT_NE(gif.message().find("GIF"), std::string::npos) << gif.message();
  EXPECT_EQ(errorFor("notes.jpg", "just some text\n").code(), StatusCode::kUnsupported);
  EXPECT_EQ(errorFor("empty.png", "").code(), StatusCode::kCorrupt);
  auto missing = readImage(dir_ + "/nope.jpg");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("nope.jpg"), std::string::npos);
}

// ---------------------------------------------------------------- folders and the loader

// A folder tree with two classes and a few non-images, built from one real PNG.
class ImageFolders : public ::testing::Test {
 protected:
  void SetUp() override {
    png_ = readBytes(std::string(kPhotos) + "/box.png");
    if (png_.empty()) GTEST_SKIP() << "needs opencv-doc";
    dir_ = test::makeTempDir("image_folders");
    for (const char* d : {"b_cat", "a_dog", "a_dog/nested", ".hidden", "c_empty"}) fs::create_directories(dir_ + "/" + d);
    for (const char* f : {"b_cat/2.PNG", "b_cat/1.png", "a_dog/x.Jpg.png", "a_dog/nested/y.png", ".hidden/z.png"})
      writeBytes(dir_ + "/" + f, png_);
    writeBytes(dir_ + "/a_dog/readme.txt", "not an image");
    writeBytes(dir_ + "/b_cat/3.jpeg", "broken");
  }
  std::string png_, dir_;
};

TEST_F(ImageFolders, ExtensionsAreCaseInsensitive) {
  EXPECT_TRUE(hasImageExtension("a/b.JPG"));
  EXPECT_TRUE(hasImageExtension("b.jpeg"));
  EXPECT_TRUE(hasImageExtension("b.Png"));
  EXPECT_FALSE(hasImageExtension("b.gif"));
  EXPECT_FALSE(hasImageExtension("png"));
}

TEST_F(ImageFolders, ClassFoldersInSortedOrder) {
  auto set = listClassFolders(dir_);
  ASSERT_TRUE(set.ok()) << set.status().message();
  EXPECT_EQ(set->classes, (std::vector<std::string>{"a_dog", "b_cat", "c_empty"}));
  std::vector<std::string> rel;
  for (const auto& p : set->paths) rel.push_back(fs::relative(p, dir_).string());
  EXPECT_EQ(rel, (std::vector<std::string>{"a_dog/nested/y.png", "a_dog/x.Jpg.png", "b_cat/1.png", "b_cat/2.PNG",
                                           "b_cat/3.jpeg"}));
  EXPECT_EQ(set->labels, (std::vector<int>{0, 0, 1, 1, 1}));
}

TEST_F(ImageFolders, FlatAndRecursiveListing) {
  auto flat = listImageFiles(dir_ + "/a_dog", false);
  ASSERT_TRUE(flat.ok());
  EXPECT_EQ(flat->size(), 1u);
  auto deep = listImageFiles(dir_, true);
  ASSERT_TRUE(deep.ok());
  EXPECT_EQ(deep->size(), 5u);  // .hidden skipped
  auto none = listImageFiles(dir_ + "/c_empty", true);
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.status().message().find("c_empty"), std::string::npos);
  auto missing = listClassFolders(dir_ + "/absent");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("absent"), std::string::npos);
}

TEST_F(ImageFolders, LoaderBatchesAndSkipsUnreadable) {
  auto set = listClassFolders(dir_);
  ASSERT_TRUE(set.ok());
  PreprocessSpec spec;
  spec.color = ColorOrder::kGray;
  spec.resize_height = 20;
  spec.resize_width = 30;
  spec.layout = TensorLayout::kNHWC;
  ImageBatchLoader loader(set->paths, spec, 2);
  std::vector<size_t> seen;
  std::vector<int64_t> rows;
  ImageBatch b;
  while (true) {
    auto more = loader.next(&b);
    ASSERT_TRUE(more.ok()) << more.status().message();
    if (!*more) break;
    EXPECT_EQ(b.tensor.dims(), (Dims{static_cast<int64_t>(b.indices.size()), 20, 30, 1}));
    rows.push_back(b.tensor.dims()[0]);
    seen.insert(seen.end(), b.indices.begin(), b.indices.end());
  }
  EXPECT_EQ(seen, (std::vector<size_t>{0, 1, 2, 3}));  // 3.jpeg (index 4) is skipped
  EXPECT_EQ(rows, (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(loader.loaded(), 4u);
  EXPECT_EQ(loader.skipped(), 1u);
}

TEST_F(ImageFolders, AllUnreadableIsAnError) {
  std::vector<std::string> paths = {dir_ + "/b_cat/3.jpeg", dir_ + "/a_dog/readme.txt"};
  ImageBatchLoader loader(paths, PreprocessSpec{}, 4);
  ImageBatch b;
  auto more = loader.next(&b);
  ASSERT_FALSE(more.ok());
  EXPECT_NE(more.status().message().find("none of the 2 images"), std::string::npos) << more.status().message();
  EXPECT_NE(more.status().message().find("3.jpeg"), std::string::npos) << more.status().message();
}

TEST_F(ImageFolders, KeepingSizesNeedsEqualSizes) {
  std::vector<std::string> paths = {dir_ + "/b_cat/1.png", std::string(kPhotos) + "/pic1.png"};
  PreprocessSpec spec;  // no resize
  ImageBatchLoader loader(paths, spec, 4);
  ImageBatch b;
  auto more = loader.next(&b);
  ASSERT_FALSE(more.ok());
  EXPECT_NE(more.status().message().find("pic1.png"), std::string::npos) << more.status().message();
  ImageBatchLoader same({dir_ + "/b_cat/1.png", dir_ + "/b_cat/2.PNG"}, spec, 4);
  auto ok = same.next(&b);
  ASSERT_TRUE(ok.ok()) << ok.status().message();
  EXPECT_EQ(b.tensor.dims(), (Dims{2, 3, 223, 324}));  // box.png is 324 x 223, gray replicated to rgb
}

}  // namespace
}  // namespace qrt
