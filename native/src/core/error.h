#pragma once
// Errors raised by the numeric core. The binding turns them into JS errors carrying `code`
// and `argument`; the core itself knows nothing of Node.
#include <stdexcept>
#include <string>

namespace qm {

class NumericError : public std::runtime_error {
 public:
  NumericError(std::string code, std::string argument, const std::string& message)
      : std::runtime_error(message), code_(std::move(code)), argument_(std::move(argument)) {}
  const std::string& code() const { return code_; }
  const std::string& argument() const { return argument_; }

 private:
  std::string code_;
  std::string argument_;
};

[[noreturn]] inline void fail(const char* code, const std::string& argument, const std::string& message) {
  throw NumericError(code, argument, message);
}

}  // namespace qm
