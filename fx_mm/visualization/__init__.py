# Copyright (c) fx_mm contributors. All rights reserved.
