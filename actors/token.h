// Join tokens: the shared secret a machine (`kaito join --token`) and an operator shell present
// before the supervisor admits them.
//
// A token is 32 lowercase hex characters (128 random bits). `kaito up` keeps it in
// <home>/join-token (mode 0600), created on first start and reused afterwards.
#pragma once

#include <string>
#include <string_view>

#include "base/status.h"

namespace kaito::actors {

std::string generate_token();
// Compares in time independent of where the first difference is.
bool token_equal(std::string_view a, std::string_view b);
// Reads <path>, or creates it with a fresh token (mode 0600) when absent. Errors name the path.
result<std::string> load_or_create_token(const std::string& path);

}  // namespace kaito::actors
