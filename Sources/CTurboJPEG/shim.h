// libjpeg-turbo's TurboJPEG API (libturbojpeg0-dev): JPEG decoding, with libjpeg's errors
// returned instead of ending the process.
#include <turbojpeg.h>
