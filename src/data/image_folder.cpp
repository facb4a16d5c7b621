#include "data/image_folder.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <optional>

#include "core/status_macros.h"
#include "core/threadpool.h"

namespace qrt {

namespace fs = std::filesystem;

bool hasImageExtension(const std::string& path) {
  std::string ext = fs::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext == ".jpg" || ext == ".jpeg" || ext == ".png";
}

namespace {

bool isHidden(const fs::path& p) {
  std::string name = p.filename().string();
  return !name.empty() && name[0] == '.';
}

Status checkFolder(const std::string& dir) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) return notFound("image folder '", dir, "' does not exist");
  if (!fs::is_directory(dir, ec)) return invalidArgument("'", dir, "' is not a folder");
  return Status::Ok();
}

// Appends the image files under `dir` (unsorted). Folder symlinks are not followed, so a link
// cycle cannot make the walk endless.
Status collectImages(const std::string& dir, bool recursive, std::vector<std::string>* out) {
  std::error_code ec;
  auto visit = [&](const fs::directory_entry& e) {
    std::error_code fec;
    if (!isHidden(e.path()) && e.is_regular_file(fec) && hasImageExtension(e.path().string()))
      out->push_back(e.path().string());
  };
  if (recursive) {
    fs::recursive_directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec), end;
    for (; !ec && it != end; it.increment(ec)) {
      if (isHidden(it->path())) {
        it.disable_recursion_pending();
        continue;
      }
      visit(*it);
    }
  } else {
    fs::directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec), end;
    for (; !ec && it != end; it.increment(ec)) visit(*it);
  }
  if (ec) return ioError("cannot list image folder '", dir, "': ", ec.message());
  return Status::Ok();
}

}  // namespace

Result<std::vector<std::string>> listImageFiles(const std::string& dir, bool recursive) {
  QRT_RETURN_IF_ERROR(checkFolder(dir));
  std::vector<std::string> files;
  QRT_RETURN_IF_ERROR(collectImages(dir, recursive, &files));
  if (files.empty())
    return notFound("no .jpg, .jpeg or .png images in '", dir, "'", recursive ? " (searched recursively)" : "");
  std::sort(files.begin(), files.end());
  return files;
}

Result<LabeledImages> listClassFolders(const std::string& dir) {
  QRT_RETURN_IF_ERROR(checkFolder(dir));
  std::error_code ec;
  std::vector<std::string> classes;
  fs::directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec), end;
  for (; !ec && it != end; it.increment(ec)) {
    std::error_code dec;
    if (!isHidden(it->path()) && it->is_directory(dec)) classes.push_back(it->path().filename().string());
  }
  if (ec) return ioError("cannot list image folder '", dir, "': ", ec.message());
  if (classes.empty())
    return invalidArgument("'", dir, "' has no class folders: expected ", dir, "/<class>/<image>.jpg|png");
  std::sort(classes.begin(), classes.end());
  LabeledImages set;
  set.classes = classes;
  for (size_t label = 0; label < classes.size(); ++label) {
    std::vector<std::string> files;
    QRT_RETURN_IF_ERROR(collectImages((fs::path(dir) / classes[label]).string(), true, &files));
    std::sort(files.begin(), files.end());
    for (auto& f : files) {
      set.paths.push_back(std::move(f));
      set.labels.push_back(static_cast<int>(label));
    }
  }
  if (set.paths.empty())
    return notFound("no .jpg, .jpeg or .png images in the ", classes.size(), " class folders of '", dir, "'");
  return set;
}

// ---------------------------------------------------------------- loader

ImageBatchLoader::ImageBatchLoader(std::vector<std::string> paths, PreprocessSpec spec, int batch_size)
    : paths_(std::move(paths)), spec_(std::move(spec)), batch_size_(std::max(1, batch_size)) {
  height_ = spec_.resize_height;
  width_ = spec_.resize_width;
}

Result<bool> ImageBatchLoader::next(ImageBatch* batch) {
  QRT_RETURN_IF_ERROR(validatePreprocess(spec_));
  while (pos_ < paths_.size()) {
    const size_t begin = pos_, count = std::min(paths_.size() - pos_, static_cast<size_t>(batch_size_));
    pos_ += count;
    // Decode in parallel; decoders keep no shared state, and each slot is written by one thread.
    std::vector<std::optional<Image>> images(count);
    std::vector<Status> errors(count);
    parallelFor(static_cast<int64_t>(count), 1, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        auto img = readImage(paths_[begin + i]);
        if (img.ok()) images[i] = std::move(img).value();
        else errors[i] = img.status();
      }
    });
    // Report failures in path order, then settle the output size.
    std::vector<size_t> good;
    for (size_t i = 0; i < count; ++i) {
      if (!images[i]) {
        std::fprintf(stderr, "qrt: warning: skipping %s\n", errors[i].message().c_str());
        if (first_error_.ok()) first_error_ = errors[i];
        ++skipped_;
        continue;
      }
      if (height_ == 0) {
        height_ = images[i]->height;
        width_ = images[i]->width;
      } else if (spec_.resize_height == 0 && (images[i]->height != height_ || images[i]->width != width_)) {
        return invalidArgument(paths_[begin + i], " is ", images[i]->height, "x", images[i]->width,
                               " but earlier images are ", height_, "x", width_,
                               ": images of different sizes need a resize in the preprocessing");
      }
      good.push_back(i);
    }
    if (good.empty()) continue;
    const int64_t C = spec_.channels(), n = static_cast<int64_t>(good.size());
    Dims dims = spec_.layout == TensorLayout::kNCHW ? Dims{n, C, height_, width_} : Dims{n, height_, width_, C};
    batch->tensor = HostTensor(DataType::kFloat, dims);
    batch->indices.clear();
    for (size_t i : good) batch->indices.push_back(begin + i);
    const int64_t per_image = C * height_ * width_;
    std::vector<Status> prep(good.size());
    float* base = batch->tensor.as<float>();
    parallelFor(n, 1, [&](int64_t b, int64_t e) {
      for (int64_t k = b; k < e; ++k) prep[k] = preprocess(*images[good[k]], spec_, base + k * per_image);
    });
    for (size_t k = 0; k < prep.size(); ++k)
      if (!prep[k].ok()) return prep[k].withContext(paths_[begin + good[k]]);
    loaded_ += good.size();
    return true;
  }
  if (paths_.empty()) return notFound("no images to load");
  if (loaded_ == 0)
    return Status(first_error_.code(), strCat("none of the ", paths_.size(), " images could be read; the first: ",
                                              first_error_.message()));
  return false;
}

}  // namespace qrt
